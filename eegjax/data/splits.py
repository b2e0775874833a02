"""Deterministic train/test splits: k-fold, stratified k-fold, group k-fold, holdout.

Every function returns a list of `Split(train, test)` with sorted int index arrays and
depends only on its inputs and `seed`. Group k-fold never puts one group in two folds.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from eegjax.data.dataset import DataError

SPLIT_KINDS = ("auto", "kfold", "stratified", "group", "holdout", "group_holdout", "official")


@dataclasses.dataclass(frozen=True)
class Split:
  train: np.ndarray
  test: np.ndarray


def _check_k(k: int, available: int, what: str) -> None:
  if k < 2:
    raise DataError(f"--num_folds={k}: expected at least 2 folds")
  if k > available:
    raise DataError(f"--num_folds={k} exceeds the number of {what} ({available}); "
                    f"expected at most {available}")


def _from_assignment(fold_of: np.ndarray, k: int) -> list[Split]:
  idx = np.arange(len(fold_of))
  return [Split(train=idx[fold_of != f], test=idx[fold_of == f]) for f in range(k)]


def kfold(n: int, k: int, seed: int = 0) -> list[Split]:
  """Shuffled k-fold; fold sizes differ by at most one."""
  _check_k(k, n, "examples")
  perm = np.random.default_rng(seed).permutation(n)
  fold_of = np.empty(n, np.int64)
  for f, part in enumerate(np.array_split(perm, k)):
    fold_of[part] = f
  return _from_assignment(fold_of, k)


def stratified_kfold(y: np.ndarray, k: int, seed: int = 0) -> list[Split]:
  """Shuffled k-fold keeping class proportions (each class dealt round-robin)."""
  y = np.asarray(y)
  _check_k(k, len(y), "examples")
  rng = np.random.default_rng(seed)
  fold_of = np.empty(len(y), np.int64)
  start = 0
  for c in np.unique(y):
    members = rng.permutation(np.flatnonzero(y == c))
    fold_of[members] = (start + np.arange(len(members))) % k
    start += len(members)  # continue the deal so fold sizes stay balanced overall
  return _from_assignment(fold_of, k)


def group_kfold(groups: np.ndarray, k: int, seed: int = 0) -> list[Split]:
  """k folds of whole groups, balanced in size (shuffled groups, largest first to the
  currently smallest fold)."""
  groups = np.asarray(groups)
  names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
  _check_k(k, len(names), "groups (participants)")
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(names))
  order = order[np.argsort(-counts[order], kind="stable")]
  sizes = np.zeros(k, np.int64)
  fold_of_group = np.empty(len(names), np.int64)
  for g in order:
    f = int(np.argmin(sizes))
    fold_of_group[g] = f
    sizes[f] += counts[g]
  return _from_assignment(fold_of_group[inverse], k)


def holdout(n: int, test_fraction: float, seed: int = 0,
            groups: Optional[np.ndarray] = None, y: Optional[np.ndarray] = None) -> Split:
  """One train/test split; by whole groups when `groups` is given, else stratified by `y`
  when given, else plain. The test part gets round(test_fraction * units) units."""
  if not 0.0 < test_fraction < 1.0:
    raise DataError(f"test fraction {test_fraction}: expected a value in (0, 1)")
  rng = np.random.default_rng(seed)
  idx = np.arange(n)
  if groups is not None:
    names = np.unique(groups)
    if len(names) < 2:
      raise DataError("a grouped holdout needs at least two groups")
    m = min(max(1, int(round(test_fraction * len(names)))), len(names) - 1)
    test_groups = rng.permutation(names)[:m]
    mask = np.isin(groups, test_groups)
  elif y is not None:
    mask = np.zeros(n, bool)
    for c in np.unique(y):
      members = rng.permutation(np.flatnonzero(y == c))
      mask[members[:int(round(test_fraction * len(members)))]] = True
  else:
    m = min(max(1, int(round(test_fraction * n))), n - 1)
    mask = np.zeros(n, bool)
    mask[rng.permutation(n)[:m]] = True
  if mask.all() or not mask.any():
    raise DataError(f"holdout of {test_fraction} leaves an empty part ({n} examples)")
  return Split(train=idx[~mask], test=idx[mask])


def make_splits(kind: str, k: int, *, y: np.ndarray, groups: Optional[np.ndarray],
                seed: int = 0, official_test: Optional[np.ndarray] = None,
                repeats: int = 1) -> tuple[str, list[Split]]:
  """Dispatches on `kind`; 'auto' is group k-fold when groups exist, else stratified;
  'official' is the data's own split (`official_test` marks its test rows): one fold,
  trained on the official training rows and tested on the official test rows.
  `repeats` > 1 (k-fold kinds only): repeated k-fold, the k folds of repetition r drawn
  anew with seed + r (repetition 0 is the plain k-fold), listed repetition-major.
  Returns the kind used and the splits."""
  if repeats < 1:
    raise DataError(f"--repeats={repeats}: expected at least 1")
  if repeats > 1:
    if kind in ("official", "holdout", "group_holdout"):
      raise DataError(f"--repeats={repeats} with --split={kind}: repetitions draw new "
                      "k-fold partitions; expected a k-fold split (auto, kfold, stratified, "
                      "group)")
    out = [make_splits(kind, k, y=y, groups=groups, seed=seed + r) for r in range(repeats)]
    return out[0][0], [sp for _, splits in out for sp in splits]
  if kind not in SPLIT_KINDS:
    raise DataError(f"--split={kind!r}: expected one of {list(SPLIT_KINDS)}")
  if kind == "official":
    if official_test is None:
      raise DataError("--split=official needs a dataset with an official test part (a "
                      "vendored set, or --data_path with --test_path); this one has none")
    idx = np.arange(len(y))
    return kind, [Split(train=idx[~official_test], test=idx[official_test])]
  if kind == "auto":
    kind = "group" if groups is not None else "stratified"
  if kind == "group":
    if groups is None:
      raise DataError("--split=group needs participant groups (--group_column, or a "
                      "dataset with groups); this dataset has none")
    return kind, group_kfold(groups, k, seed)
  if kind == "stratified":
    return kind, stratified_kfold(y, k, seed)
  if kind in ("holdout", "group_holdout"):
    # one train/test split, the test part 1/k of the rows (k = 5: an 8:2 split); by whole
    # groups for group_holdout (no participant on both sides), else stratified by class
    if kind == "group_holdout" and groups is None:
      raise DataError("--split=group_holdout needs participant groups; this dataset has "
                      "none")
    return kind, [holdout(len(y), 1.0 / k, seed,
                          groups=groups if kind == "group_holdout" else None,
                          y=None if kind == "group_holdout" else y)]
  return kind, kfold(len(y), k, seed)
