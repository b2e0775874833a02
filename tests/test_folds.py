import numpy as np
import pytest

from eegjax.data.dataset import DataError
from eegjax.data.splits import group_kfold, stratified_kfold
from eegjax.data.synthetic import music_features
from eegjax.train.folds import carve_validation, fold_subset, has_validation, make_fold_arrays


def test_padded_weighted_layout_and_train_only_stats():
  ds = music_features(0)
  splits = group_kfold(ds.groups, 5, seed=0)
  parts = carve_validation(ds, splits, 0.25, seed=0)
  fa = make_fold_arrays(ds, parts)
  assert has_validation(fa)
  for f, (tr, va, te) in enumerate(parts):
    np.testing.assert_array_equal(fa.train_idx[f][fa.train_w[f]], tr)
    np.testing.assert_array_equal(fa.val_idx[f][fa.val_w[f]], va)
    np.testing.assert_array_equal(fa.test_idx[f][fa.test_w[f]], te)
    # validation carved by whole participants, disjoint from train and test
    assert not np.intersect1d(ds.groups[tr], ds.groups[va]).size
    assert not np.intersect1d(ds.groups[va], ds.groups[te]).size
    np.testing.assert_allclose(fa.lo[f], ds.x[tr].min(0))
    np.testing.assert_allclose(fa.scale[f], ds.x[tr].max(0) - ds.x[tr].min(0), rtol=1e-6)
  sub = fold_subset(fa, [3])
  assert sub.fold_id.tolist() == [3] and sub.train_idx.shape == (1, fa.train_idx.shape[1])


def test_no_validation_and_stratified_validation():
  ds = music_features(0).replace(groups=None)
  parts = carve_validation(ds, stratified_kfold(ds.y, 4), 0.0)
  assert not has_validation(make_fold_arrays(ds, parts))
  parts = carve_validation(ds, stratified_kfold(ds.y, 4), 0.2)
  for tr, va, _ in parts:
    assert len(va) == pytest.approx(0.2 * (len(tr) + len(va)), abs=3)


def test_grouped_validation_needs_two_groups():
  ds = music_features(0, num_participants=2)      # 2 folds: each trains on one participant
  with pytest.raises(DataError, match="fold 0: its training part has one group"):
    carve_validation(ds, group_kfold(ds.groups, 2), 0.2)
