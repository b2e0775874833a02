"""The one dataset type every loader returns, and its validation.

A `Dataset` holds either tabular features, ``x`` of shape (n, d), or sequences,
``x`` of shape (n, T, C) padded to the longest trial with ``lengths`` giving each
trial's true length. Labels are ints 0..C-1 indexing ``class_names``. ``groups``
(participant or subject ids, ints) drive grouped cross-validation.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from eegjax.errors import DataError


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """Where a dataset came from and how to read its axes."""
  name: str
  source: str                      # file path, vendored folder, or generator
  real: bool                       # recorded EEG (True) or synthetic (False)
  sampling_rate: Optional[float] = None
  channel_names: tuple[str, ...] = ()
  feature_names: tuple[str, ...] = ()
  description: str = ""

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Dataset:
  x: np.ndarray                    # float32, (n, d) or (n, T, C)
  y: np.ndarray                    # int32, (n,)
  class_names: tuple[str, ...]
  info: DatasetInfo
  groups: Optional[np.ndarray] = None    # int32, (n,)
  lengths: Optional[np.ndarray] = None   # int32, (n,), sequences only
  # bool, (n,): the rows of the data's official test file (UEA-style TRAIN/TEST pairs;
  # `--test_path`), used by `--split=official`; None when the data has no official split
  official_test: Optional[np.ndarray] = None

  @property
  def num_examples(self) -> int:
    return int(self.x.shape[0])

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def is_sequence(self) -> bool:
    return self.x.ndim == 3

  def trial_lengths(self) -> np.ndarray:
    """True length of every trial (the padded length when none were given)."""
    if not self.is_sequence:
      raise DataError(f"dataset {self.info.name!r} holds features, not sequences")
    if self.lengths is None:
      return np.full(self.num_examples, self.x.shape[1], np.int32)
    return self.lengths

  def replace(self, **changes) -> "Dataset":
    return dataclasses.replace(self, **changes)

  def summary(self) -> dict:
    """JSON-ready description for results files."""
    out = {
        **self.info.to_json(),
        "num_examples": self.num_examples,
        "shape": list(self.x.shape),
        "class_names": list(self.class_names),
        "class_counts": np.bincount(self.y, minlength=self.num_classes).tolist(),
        "num_groups": None if self.groups is None else int(len(np.unique(self.groups))),
    }
    if self.is_sequence:
      lengths = self.trial_lengths()
      out["length_range"] = [int(lengths.min()), int(lengths.max())]
    if self.official_test is not None:
      out["official_split"] = {"train_rows": int((~self.official_test).sum()),
                               "test_rows": int(self.official_test.sum())}
    return out


def make_dataset(x, y, class_names: Sequence[str], info: DatasetInfo, *,
                 groups=None, lengths=None, official_test=None, where: str = "") -> Dataset:
  """Builds a Dataset with canonical dtypes and validates it.

  `where` names the file (or generator) for error messages.
  """
  where = where or info.source or info.name
  _check_groups(groups, where)
  big = np.abs(np.asarray(x, np.float64)) > MAX_MAGNITUDE
  if big.any():
    first = np.argwhere(big)[0]
    raise DataError(f"{where}: x has {int(big.sum())} values beyond +-{MAX_MAGNITUDE:.0e} "
                    f"(first at example {first[0]}, index {tuple(int(i) for i in first[1:])}: "
                    f"{np.asarray(x)[tuple(first)]:.3g}); the inputs are float32 and are "
                    "scaled by their range, so expected magnitudes below that")
  ds = Dataset(
      x=np.asarray(x, np.float32),
      y=np.asarray(y, np.int32),
      class_names=tuple(str(c) for c in class_names),
      info=info,
      groups=None if groups is None else np.asarray(groups, np.int32),
      lengths=None if lengths is None else np.asarray(lengths, np.int32),
      official_test=None if official_test is None else np.asarray(official_test, bool))
  validate(ds, where)
  return ds


# the inputs are float32 and min-max scaled (x - lo) / (hi - lo): values beyond this would
# overflow the range and end as a non-finite loss far from the file that held them
MAX_MAGNITUDE = 1e30


def _check_groups(groups, where: str) -> None:
  """Participant ids must be integers (an id that is NaN or fractional would be cast to
  a group of its own, e.g. -2147483648)."""
  if groups is None:
    return
  g = np.asarray(groups)
  if g.dtype.kind == "f":
    bad = ~np.isfinite(g) | (g != np.round(g))
    if bad.any():
      i = int(np.argwhere(bad)[0][0])
      raise DataError(f"{where}: field 'groups' has {int(bad.sum())} ids that are not "
                      f"integers (first at example {i}: {g[i]!r}); expected one integer "
                      "participant id per example")
  elif g.dtype.kind not in "iub":
    raise DataError(f"{where}: field 'groups' has dtype {g.dtype}; expected integer "
                    "participant ids")


def validate(ds: Dataset, where: str) -> None:
  """Raises DataError naming `where` and the offending field."""
  x, y = ds.x, ds.y
  if x.ndim not in (2, 3):
    raise DataError(f"{where}: x must be (examples, features) or (examples, time, channels), "
                    f"got shape {x.shape}")
  n = x.shape[0]
  if n == 0:
    raise DataError(f"{where}: no examples")
  if y.shape != (n,):
    raise DataError(f"{where}: y has shape {y.shape}, expected ({n},) to match x")
  bad = ~np.isfinite(x)
  if bad.any():
    first = np.argwhere(bad)[0]
    raise DataError(f"{where}: x has {int(bad.sum())} NaN or inf values "
                    f"(first at example {first[0]}, index {tuple(int(i) for i in first[1:])}); "
                    "expected finite numbers")
  if len(ds.class_names) < 2:
    raise DataError(f"{where}: a single class ({list(ds.class_names)}); "
                    "classification needs at least two")
  if y.min() < 0 or y.max() >= len(ds.class_names):
    raise DataError(f"{where}: labels must be 0..{len(ds.class_names) - 1}, "
                    f"found {int(y.min())}..{int(y.max())}")
  present = np.unique(y)
  if len(present) < 2:
    raise DataError(f"{where}: every example has the label {ds.class_names[present[0]]!r}; "
                    "classification needs at least two classes present")
  if ds.groups is not None and ds.groups.shape != (n,):
    raise DataError(f"{where}: groups has shape {ds.groups.shape}, expected ({n},)")
  if ds.official_test is not None:
    if ds.official_test.shape != (n,):
      raise DataError(f"{where}: official_test has shape {ds.official_test.shape}, expected "
                      f"({n},)")
    if ds.official_test.all() or not ds.official_test.any():
      raise DataError(f"{where}: official_test marks {int(ds.official_test.sum())} of {n} "
                      "rows; an official split needs training and test rows")
  if ds.lengths is not None:
    if x.ndim != 3:
      raise DataError(f"{where}: lengths given for tabular x of shape {x.shape}")
    if ds.lengths.shape != (n,):
      raise DataError(f"{where}: lengths has shape {ds.lengths.shape}, expected ({n},)")
    if ds.lengths.min() < 1:
      i = int(np.argmin(ds.lengths))
      raise DataError(f"{where}: example {i} has length {int(ds.lengths[i])}; "
                      "expected at least one time step")
    if ds.lengths.max() > x.shape[1]:
      i = int(np.argmax(ds.lengths))
      raise DataError(f"{where}: example {i} has length {int(ds.lengths[i])} beyond "
                      f"the padded length {x.shape[1]} of x")
  names = ds.info.channel_names
  if x.ndim == 3 and names and len(names) != x.shape[2]:
    raise DataError(f"{where}: {len(names)} channel names for {x.shape[2]} channels")
  names = ds.info.feature_names
  if x.ndim == 2 and names and len(names) != x.shape[1]:
    raise DataError(f"{where}: {len(names)} feature names for {x.shape[1]} features")


def encode_labels(raw: Sequence[str], declared: Optional[Sequence[str]], where: str,
                  line_of=None) -> tuple[np.ndarray, tuple[str, ...]]:
  """Maps string labels to ints.

  With `declared` (a format's own class list) labels outside it are an error; without
  it the classes are the sorted distinct labels (numerically when all are numbers).
  `line_of(i)` gives the line of example i for messages.
  """
  raw = [str(r).strip() for r in raw]
  for i, r in enumerate(raw):
    if r == "" or r.lower() == "nan":
      at = f"{where}:{line_of(i)}" if line_of else f"{where} (example {i})"
      raise DataError(f"{at}: the label is {'empty' if r == '' else repr(r)}; expected a "
                      "class label on every row")
  if declared is None:
    distinct = sorted(set(raw))
    try:
      distinct = sorted(distinct, key=float)
    except ValueError:
      pass
    classes = tuple(distinct)
  else:
    classes = tuple(str(c) for c in declared)
  index = {c: i for i, c in enumerate(classes)}
  y = np.empty(len(raw), np.int32)
  for i, r in enumerate(raw):
    if r not in index:
      at = f"{where}:{line_of(i)}" if line_of else f"{where} (example {i})"
      raise DataError(f"{at}: unknown label {r!r}; expected one of {list(classes)}")
    y[i] = index[r]
  return y, classes
