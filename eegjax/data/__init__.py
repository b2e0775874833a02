"""Data layer: one Dataset type, loaders, synthetic twins, preprocessing, splits."""

from eegjax.data.dataset import DataError, Dataset, DatasetInfo, make_dataset
from eegjax.data.registry import DATASETS, FORMATS, DataSpec, load

__all__ = ["DataError", "Dataset", "DatasetInfo", "make_dataset", "DATASETS", "FORMATS",
           "DataSpec", "load"]
