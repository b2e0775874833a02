"""The alcoholism study's GANs on 32x32x3 EEG images (theta / alpha / beta band power drawn
on the scalp): a discriminator that also classifies alcoholic vs control (AC-GAN; K+1
outputs with --semi_supervised), and the generators deconv, U-Net with resize upsampling
and U-Net with transposed convolutions, compared on the same split and seeds. Optionally
prunes the discriminators' conv channels by distinctiveness afterwards.

    python experiments/train_gan.py --flagfile=experiments/configs/gan.cfg \
        --workdir=workdirs/gan

Writes gan_comparison.csv / .md / .png, gan_curves.png, epoch_log_<variant>.csv,
images/<variant>_epoch_N.png, gan_prune_table.csv, results.json, timing.json, history.npz
and checkpoints/<variant>/{last,best}/ (a rerun resumes from the last checkpoint).
"""

from absl import app

from eegjax.studies import alcohol, gan
from eegjax.studies.common import cli
from eegjax.train.gan_fit import GanConfig

# --classifier_epochs: the dense classifier and the samples' quality classifiers;
# --gan_epochs: the GANs (a bare --epochs is refused as ambiguous)
cli.define_study("mlp", study=gan.FLAGS, rename={"epochs": "classifier_epochs"},
                 **{"classifier_epochs" if k == "epochs" else k: v
                    for k, v in alcohol.BINARY_DEFAULTS.items()})


@cli.binary
def main(fv):
  gan_cfg = cli.build(GanConfig, fv)
  gan.run(cli.study_config(fv, "mlp", gan.GanStudyConfig, gan=gan_cfg),
          flagfile_text=cli.run_flags_text(fv))


if __name__ == "__main__":
  app.run(main)
