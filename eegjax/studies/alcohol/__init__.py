"""The alcoholism study (UCI SMNI): the direct classifier on 192 band powers, an autoencoder's
codes with a classifier on them, and the classifier pruned: `run(AlcoholConfig)`."""

from eegjax.studies.alcohol.study import BINARY_DEFAULTS, FLAGS, AlcoholConfig, run

__all__ = ["AlcoholConfig", "BINARY_DEFAULTS", "FLAGS", "run"]
