"""Readers for feature CSV files and `.npz` archives.

CSV: a header row; one column holds the class label (`label_column`), an optional one
the participant id (`group_column`); every other column is a numeric feature.

NPZ: arrays `x` (n, d) or (n, T, C) and `y` (ints 0..C-1, or strings); optional
`groups`, `lengths`, `class_names`, `channel_names`, `feature_names`, `sampling_rate`,
`name`, `real` (bool; defaults to True since a user file is presumed recorded data).
"""

from __future__ import annotations

import csv
import os
from typing import Optional

import numpy as np

from eegjax.data.dataset import (MAX_MAGNITUDE, DataError, Dataset, DatasetInfo, encode_labels,
                                 make_dataset)


def _check_file(path: str, expected: str) -> None:
  if not os.path.exists(path):
    raise DataError(f"{path}: no such file")
  if os.path.isdir(path):
    raise DataError(f"{path}: is a folder; expected {expected}")
  if os.path.getsize(path) == 0:
    raise DataError(f"{path}: empty file; expected {expected}")


def _group_ids(raw: list[str]) -> np.ndarray:
  """Participant names -> ints in order of first appearance."""
  ids: dict[str, int] = {}
  return np.array([ids.setdefault(r, len(ids)) for r in raw], np.int32)


def load_csv(path: str, *, label_column: str = "label", group_column: Optional[str] = None,
             classes: Optional[list[str]] = None, name: Optional[str] = None,
             real: bool = True) -> Dataset:
  """Loads a feature table. `classes`, if given, fixes the label set and its order."""
  _check_file(path, "a CSV file with a header row")
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
  rows = [(i, r) for i, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
  if not rows:
    raise DataError(f"{path}: empty file; expected a header row and data rows")
  header = [h.strip() for h in rows[0][1]]
  if label_column not in header:
    raise DataError(f"{path}:1: no label column {label_column!r} (set --label_column); "
                    f"columns are {header}")
  if group_column and group_column not in header:
    raise DataError(f"{path}:1: no group column {group_column!r} (set --group_column); "
                    f"columns are {header}")
  if len(rows) < 2:
    raise DataError(f"{path}: no data rows after the header")
  li = header.index(label_column)
  gi = header.index(group_column) if group_column else None
  feat_cols = [j for j in range(len(header)) if j not in (li, gi)]
  if not feat_cols:
    raise DataError(f"{path}:1: no feature columns besides the label/group columns")

  x = np.empty((len(rows) - 1, len(feat_cols)), np.float64)
  labels, groups, line_numbers = [], [], []
  for k, (lineno, row) in enumerate(rows[1:]):
    if len(row) != len(header):
      raise DataError(f"{path}:{lineno}: {len(row)} fields, expected {len(header)} "
                      "as in the header (ragged row)")
    for m, j in enumerate(feat_cols):
      cell = row[j].strip()
      try:
        v = float(cell)
      except ValueError:
        raise DataError(f"{path}:{lineno}: column {header[j]!r} has {cell!r}; "
                        "expected a number") from None
      if not np.isfinite(v):
        raise DataError(f"{path}:{lineno}: column {header[j]!r} is {cell}; "
                        "expected a finite number")
      if abs(v) > MAX_MAGNITUDE:
        raise DataError(f"{path}:{lineno}: column {header[j]!r} is {cell}; expected a "
                        f"magnitude below {MAX_MAGNITUDE:.0e} (the inputs are float32, "
                        "scaled by their range)")
      x[k, m] = v
    labels.append(row[li])
    if gi is not None:
      groups.append(row[gi].strip())
    line_numbers.append(lineno)
  y, class_names = encode_labels(labels, classes, path, line_of=lambda i: line_numbers[i])
  info = DatasetInfo(name=name or os.path.splitext(os.path.basename(path))[0],
                     source=os.path.abspath(path), real=real,
                     feature_names=tuple(header[j] for j in feat_cols))
  return make_dataset(x, y, class_names, info,
                      groups=_group_ids(groups) if gi is not None else None, where=path)


def load_npz(path: str, *, name: Optional[str] = None, source: Optional[str] = None,
             description: str = "") -> Dataset:
  """Loads an `.npz` archive (see the module docstring for its fields)."""
  _check_file(path, "an .npz archive")
  try:
    z = np.load(path, allow_pickle=False)
    fields = {k: z[k] for k in z.files}
  except Exception as e:  # zipfile / format errors come in many types
    raise DataError(f"{path}: not a readable .npz archive ({e})") from None
  for key in ("x", "y"):
    if key not in fields:
      raise DataError(f"{path}: missing array {key!r}; the archive has {sorted(fields)}")
  x = fields["x"]
  if not np.issubdtype(x.dtype, np.number):
    raise DataError(f"{path}: field 'x' has dtype {x.dtype}; expected numbers")
  raw_y = fields["y"]
  declared = [str(c) for c in fields["class_names"]] if "class_names" in fields else None
  if np.issubdtype(raw_y.dtype, np.integer):
    y = raw_y.astype(np.int64)
    if declared is None:
      declared = [str(c) for c in range(int(y.max()) + 1)] if y.size else []
    if y.size and (y.min() < 0 or y.max() >= len(declared)):
      bad = int(y[(y < 0) | (y >= len(declared))][0])
      raise DataError(f"{path}: field 'y' has unknown label {bad}; expected "
                      f"0..{len(declared) - 1} indexing class_names {declared}")
    class_names = tuple(declared)
  else:
    y, class_names = encode_labels([str(v) for v in raw_y], declared, f"{path} field 'y'")
  meta = lambda k, d: fields[k] if k in fields else d  # noqa: E731
  info = DatasetInfo(
      name=name or str(meta("name", os.path.splitext(os.path.basename(path))[0])),
      source=source or os.path.abspath(path),
      real=bool(meta("real", True)),
      sampling_rate=float(fields["sampling_rate"]) if "sampling_rate" in fields else None,
      channel_names=tuple(str(c) for c in meta("channel_names", [])),
      feature_names=tuple(str(c) for c in meta("feature_names", [])),
      description=description or str(meta("description", "")))
  return make_dataset(x, y, class_names, info, groups=fields.get("groups"),
                      lengths=fields.get("lengths"), official_test=fields.get("official_test"),
                      where=path)


def save_npz(path: str, ds: Dataset) -> None:
  """Writes a Dataset so that `load_npz` reads it back unchanged."""
  extra = {}
  if ds.groups is not None:
    extra["groups"] = ds.groups
  if ds.lengths is not None:
    extra["lengths"] = ds.lengths
  if ds.official_test is not None:
    extra["official_test"] = ds.official_test
  if ds.info.sampling_rate is not None:
    extra["sampling_rate"] = np.float64(ds.info.sampling_rate)
  np.savez_compressed(
      path, x=ds.x, y=ds.y, class_names=np.array(ds.class_names),
      channel_names=np.array(ds.info.channel_names, dtype=str),
      feature_names=np.array(ds.info.feature_names, dtype=str),
      name=np.array(ds.info.name), real=np.array(ds.info.real),
      description=np.array(ds.info.description), **extra)
