"""Padded, weighted fold layout: the arrays that let one vmapped program train every fold.

For F folds, each part (train, val, test) becomes an index array (F, N_part_max) padded
with row 0 and a boolean weight array marking the real rows. `lo`/`scale` are the min-max
statistics of each fold's training rows only (validation and test rows never enter them).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax.numpy as jnp
import numpy as np

from eegjax.data.dataset import DataError, Dataset
from eegjax.data.preprocess import fit_minmax
from eegjax.data.splits import Split, holdout


class FoldArrays(NamedTuple):
  fold_id: np.ndarray     # (F,) int32: the fold's number (keys derive from it)
  train_idx: np.ndarray   # (F, Ntr) int32
  train_w: np.ndarray     # (F, Ntr) bool
  val_idx: np.ndarray     # (F, Nv) int32 (Nv = 1 and all weights False: no validation)
  val_w: np.ndarray
  test_idx: np.ndarray    # (F, Nte) int32
  test_w: np.ndarray
  lo: np.ndarray          # (F, d) or (F, 1, C): min of the fold's training rows
  scale: np.ndarray       # same shape: max - min (1 for constant columns)


def _pad(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  width = max(1, max(len(p) for p in parts))
  idx = np.zeros((len(parts), width), np.int32)
  w = np.zeros((len(parts), width), bool)
  for i, p in enumerate(parts):
    idx[i, :len(p)] = p
    w[i, :len(p)] = True
  return idx, w


def carve_validation(ds: Dataset, splits: Sequence[Split], fraction: float,
                     seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Splits each fold's training rows into (train, val, test); by whole groups when the
  dataset has groups, else stratified. `fraction` 0 gives empty validation parts."""
  out = []
  for f, sp in enumerate(splits):
    if fraction <= 0:
      out.append((sp.train, np.zeros(0, np.int64), sp.test))
      continue
    groups = None if ds.groups is None else ds.groups[sp.train]
    if groups is not None and len(np.unique(groups)) < 2:
      raise DataError(f"fold {f}: its training part has one group; a grouped validation "
                      "part needs at least two (lower --val_fraction to 0 or use fewer folds)")
    try:
      h = holdout(len(sp.train), fraction, seed=seed + 7919 * (f + 1), groups=groups,
                  y=None if groups is not None else ds.y[sp.train])
    except DataError as e:
      raise DataError(f"--val_fraction={fraction}: fold {f}'s {len(sp.train)} training rows "
                      f"cannot be split into training and validation parts ({e}); expected "
                      "a smaller --val_fraction (0 for none)") from None
    out.append((sp.train[h.train], sp.train[h.test], sp.test))
  return out


def make_fold_arrays(ds: Dataset, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     normalize: bool = True) -> FoldArrays:
  """Builds FoldArrays from per-fold (train, val, test) row indices."""
  tr, va, te = zip(*parts)
  for f, (a, b, c) in enumerate(parts):
    if len(a) == 0 or len(c) == 0:
      raise DataError(f"fold {f} has an empty training or test part")
    if np.intersect1d(a, c).size or np.intersect1d(a, b).size or np.intersect1d(b, c).size:
      raise DataError(f"fold {f}: its train, validation and test rows overlap")
  train_idx, train_w = _pad(tr)
  val_idx, val_w = _pad(va)
  test_idx, test_w = _pad(te)
  lengths = ds.lengths
  stats = []
  for rows in tr:
    if normalize:
      mm = fit_minmax(ds.x, rows, lengths)
      stats.append((mm.lo, mm.scale))
    else:
      shape = ds.x.shape[1:] if ds.x.ndim == 2 else (1, ds.x.shape[2])
      stats.append((np.zeros(shape, np.float32), np.ones(shape, np.float32)))
  lo = np.stack([s[0] for s in stats])
  scale = np.stack([s[1] for s in stats])
  fold_id = np.arange(len(parts), dtype=np.int32)
  return FoldArrays(fold_id, train_idx, train_w, val_idx, val_w, test_idx, test_w, lo, scale)


def scale_rows(data, idx, lo, scale):
  """Inputs, labels and lengths of rows `idx` (None: every row) of device `data`, min-max
  scaled with a fold's training statistics (the one place inputs are scaled)."""
  x, y, lengths = data
  if idx is None:
    return (x - lo) / scale, y, lengths
  return (x[idx] - lo) / scale, y[idx], None if lengths is None else lengths[idx]


def device_data(ds: Dataset):
  """(x, y, lengths) as device arrays: the data argument of the training program."""
  lengths = None if ds.lengths is None else jnp.asarray(ds.lengths)
  if ds.is_sequence and lengths is None:
    lengths = jnp.asarray(ds.trial_lengths())
  return jnp.asarray(ds.x), jnp.asarray(ds.y), lengths


def has_validation(folds: FoldArrays) -> bool:
  return bool(np.asarray(folds.val_w).any())


def fold_subset(folds: FoldArrays, which: Optional[Sequence[int]]) -> FoldArrays:
  """The FoldArrays of chosen folds only (for running one fold alone)."""
  if which is None:
    return folds
  sel = np.asarray(which)
  return FoldArrays(*(np.asarray(a)[sel] for a in folds))
