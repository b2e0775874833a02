"""Pruning the EEG conv networks (ShallowConvNet, EEGNet, Deep4) through the engine, every
criterion and compensation at equal sizes, with costs and paired tests:
`run(PruneCnnConfig)`."""

from eegjax.studies.prune_cnn.study import PruneCnnConfig, run

__all__ = ["PruneCnnConfig", "run"]
