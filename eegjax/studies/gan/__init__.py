"""The alcoholism study's AC-GANs: generators (deconv, U-Net resize / transpose), the
discriminators' class heads against the dense classifier, the samples' quality, and the
discriminators' conv channels pruned: `run(GanStudyConfig)`."""

from eegjax.studies.gan.study import FLAGS, GanStudyConfig, run

__all__ = ["FLAGS", "GanStudyConfig", "run"]
