"""Training a classifier (MLP or RNN) over folds x seeds: `run(ClassifyConfig)`."""

from eegjax.studies.classify.study import run

__all__ = ["run"]
