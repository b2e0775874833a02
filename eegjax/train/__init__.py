"""Training: fold layout (`folds`) and the one scanned, vmapped program (`fit`)."""

from eegjax.train.config import TrainConfig
from eegjax.train.fit import FitResult, Trainer, TrainingDiverged, TrainState
from eegjax.train.folds import FoldArrays, carve_validation, device_data, make_fold_arrays

__all__ = ["FitResult", "TrainConfig", "Trainer", "TrainingDiverged", "TrainState",
           "FoldArrays", "carve_validation", "device_data", "make_fold_arrays"]
