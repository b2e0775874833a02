import numpy as np
import pytest

from eegjax.data.dataset import DataError
from eegjax.data.splits import group_kfold, holdout, kfold, make_splits, stratified_kfold


def check_partition(splits, n):
  tests = np.concatenate([s.test for s in splits])
  np.testing.assert_array_equal(np.sort(tests), np.arange(n))
  for s in splits:
    assert not np.intersect1d(s.train, s.test).size
    assert len(s.train) + len(s.test) == n


def test_kfold_sizes_and_determinism():
  sp = kfold(103, 10, seed=3)
  check_partition(sp, 103)
  assert {len(s.test) for s in sp} == {10, 11}
  for a, b in zip(sp, kfold(103, 10, seed=3)):
    np.testing.assert_array_equal(a.test, b.test)
  assert any(not np.array_equal(a.test, b.test) for a, b in zip(sp, kfold(103, 10, seed=4)))


def test_stratified_keeps_proportions():
  y = np.r_[np.zeros(60), np.ones(30), np.full(15, 2)].astype(int)
  sp = stratified_kfold(y, 5, seed=0)
  check_partition(sp, len(y))
  for s in sp:
    np.testing.assert_array_equal(np.bincount(y[s.test]), [12, 6, 3])


def test_group_kfold_never_shares_a_group():
  rng = np.random.default_rng(0)
  groups = rng.integers(0, 13, 400)
  sp = group_kfold(groups, 5, seed=1)
  check_partition(sp, 400)
  for s in sp:
    assert not np.intersect1d(groups[s.train], groups[s.test]).size
  sizes = [len(s.test) for s in sp]
  assert max(sizes) - min(sizes) < 60


def test_too_many_folds():
  with pytest.raises(DataError, match=r"--num_folds=5 exceeds the number of groups .* \(4\)"):
    group_kfold(np.repeat(np.arange(4), 3), 5)
  with pytest.raises(DataError, match="exceeds the number of examples"):
    kfold(3, 4)
  with pytest.raises(DataError, match="at least 2 folds"):
    kfold(10, 1)


def test_holdout_grouped_and_stratified():
  groups = np.repeat(np.arange(10), 5)
  h = holdout(50, 0.2, seed=0, groups=groups)
  assert not np.intersect1d(groups[h.train], groups[h.test]).size
  assert len(np.unique(groups[h.test])) == 2
  y = np.r_[np.zeros(40), np.ones(10)].astype(int)
  h = holdout(50, 0.2, seed=0, y=y)
  np.testing.assert_array_equal(np.bincount(y[h.test]), [8, 2])


def test_make_splits_auto():
  y = np.tile([0, 1], 10)
  assert make_splits("auto", 2, y=y, groups=np.repeat(np.arange(4), 5))[0] == "group"
  assert make_splits("auto", 2, y=y, groups=None)[0] == "stratified"
  with pytest.raises(DataError, match="needs participant groups"):
    make_splits("group", 2, y=y, groups=None)
  with pytest.raises(DataError, match="--split='loo'"):
    make_splits("loo", 2, y=y, groups=None)


def test_make_splits_holdout_kinds():
  groups = np.repeat(np.arange(10), 5)
  y = np.tile([0, 1, 0, 1, 1], 10)
  kind, sp = make_splits("group_holdout", 5, y=y, groups=groups)
  assert kind == "group_holdout" and len(sp) == 1
  assert not np.intersect1d(groups[sp[0].train], groups[sp[0].test]).size
  assert len(np.unique(groups[sp[0].test])) == 2
  kind, sp = make_splits("holdout", 5, y=y, groups=groups)
  assert len(sp) == 1 and len(sp[0].test) == 10
  np.testing.assert_array_equal(np.bincount(y[sp[0].test]), [4, 6])   # stratified 8:2
  with pytest.raises(DataError, match="group_holdout needs participant groups"):
    make_splits("group_holdout", 5, y=y, groups=None)


def test_official_split_is_the_datas_own():
  official = np.array([0, 0, 1, 0, 1, 1], bool)
  kind, splits = make_splits("official", 5, y=np.array([0, 1, 0, 1, 0, 1]), groups=None,
                             official_test=official)
  assert kind == "official" and len(splits) == 1
  np.testing.assert_array_equal(splits[0].train, [0, 1, 3])
  np.testing.assert_array_equal(splits[0].test, [2, 4, 5])
  with pytest.raises(DataError, match="--split=official needs a dataset with an official"):
    make_splits("official", 5, y=np.array([0, 1]), groups=None)


def test_repeated_kfold_draws_a_new_partition_per_repetition():
  from eegjax.data.splits import make_splits
  y = np.arange(40) % 2
  kind, plain = make_splits("stratified", 5, y=y, groups=None, seed=3)
  kind2, rep = make_splits("stratified", 5, y=y, groups=None, seed=3, repeats=3)
  assert kind == kind2 == "stratified" and len(rep) == 15
  for a, b in zip(plain, rep[:5]):                 # repetition 0 is the plain k-fold
    np.testing.assert_array_equal(a.test, b.test)
  for r in range(3):                               # each repetition covers every row once
    np.testing.assert_array_equal(np.sort(np.concatenate([s.test for s in rep[5 * r:5 * r + 5]])),
                                  np.arange(40))
  assert any(not np.array_equal(rep[i].test, rep[5 + i].test) for i in range(5))
  with pytest.raises(DataError, match="--repeats=2 with --split=holdout"):
    make_splits("holdout", 5, y=y, groups=None, repeats=2)
