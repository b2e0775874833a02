"""Preprocessing: median smoothing, min-max scaling fitted on training rows only, one-hot.

Min-max statistics are computed from the rows a fold trains on and then applied to every
row; `fit_minmax` never looks at any other row. For sequences the statistics are per channel
over the valid time steps (within each trial's true length).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.data.dataset import DataError, Dataset


@dataclasses.dataclass(frozen=True)
class MinMax:
  lo: np.ndarray      # broadcastable to one example: (d,) or (1, C)
  scale: np.ndarray   # hi - lo, with constant columns given scale 1

  def apply(self, x):
    return (x - self.lo) / self.scale


def fit_minmax(x: np.ndarray, rows: np.ndarray, lengths: Optional[np.ndarray] = None) -> MinMax:
  """Min and range of `x[rows]` per feature (tabular) or per channel (sequences)."""
  sub = np.asarray(x)[rows]
  if sub.ndim == 2:
    lo, hi = sub.min(axis=0), sub.max(axis=0)
  else:
    if lengths is None:
      valid = np.ones(sub.shape[:2], bool)
    else:
      valid = np.arange(sub.shape[1])[None, :] < np.asarray(lengths)[rows][:, None]
    vals = sub[valid]                       # (valid steps, C)
    lo, hi = vals.min(axis=0)[None, :], vals.max(axis=0)[None, :]
  scale = hi - lo
  scale = np.where(scale > 0, scale, 1.0)
  return MinMax(lo=lo.astype(np.float32), scale=scale.astype(np.float32))


def median_filter(ds: Dataset, width: int) -> Dataset:
  """Running median of odd `width` along time, per channel, within each trial's length
  (edges use the nearest valid samples). Returns a new dataset."""
  if not ds.is_sequence:
    raise DataError("--median_filter applies to sequences; this dataset holds features")
  if width < 1 or width % 2 == 0:
    raise DataError(f"--median_filter={width}: expected an odd width >= 1 (1 = off)")
  if width == 1:
    return ds
  half = width // 2
  x = np.zeros_like(ds.x)
  for i, n in enumerate(ds.trial_lengths()):
    seq = np.pad(ds.x[i, :n], ((half, half), (0, 0)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(seq, width, axis=0)
    x[i, :n] = np.median(win, axis=-1)
  return ds.replace(x=x)


def select_channels(ds: Dataset, channels: list[str]) -> Dataset:
  """Keeps the named (or 0-based numbered) channels of a sequence dataset, in that order."""
  if not channels:
    return ds
  if not ds.is_sequence:
    raise DataError("--channels applies to sequence data; this dataset holds features")
  names = list(ds.info.channel_names)
  picks = []
  for c in channels:
    if c in names:
      picks.append(names.index(c))
    elif c.isdigit() and int(c) < ds.x.shape[2]:
      picks.append(int(c))
    else:
      raise DataError(f"--channels: no channel {c!r}; expected a name from {names} "
                      f"or an index 0..{ds.x.shape[2] - 1}")
  if len(set(picks)) < len(picks):
    raise DataError(f"--channels={','.join(channels)}: a channel is picked twice (by name "
                    "and by index, or twice); expected each channel once")
  info = dataclasses.replace(ds.info, channel_names=tuple(names[p] for p in picks))
  return ds.replace(x=np.ascontiguousarray(ds.x[:, :, picks]), info=info)


def one_hot(y, num_classes: int):
  return jax.nn.one_hot(jnp.asarray(y), num_classes, dtype=jnp.float32)
