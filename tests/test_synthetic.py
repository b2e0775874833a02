import numpy as np

from eegjax.data.splits import group_kfold, kfold
from eegjax.data.synthetic import music_features, music_sequences


def nearest_neighbour_accuracy(ds, splits):
  accs = []
  for sp in splits:
    xtr, xte = ds.x[sp.train], ds.x[sp.test]
    lo, hi = xtr.min(0), xtr.max(0)
    xtr, xte = (xtr - lo) / (hi - lo), (xte - lo) / (hi - lo)
    d = ((xte[:, None] - xtr[None]) ** 2).sum(-1)
    accs.append(np.mean(ds.y[sp.train][d.argmin(1)] == ds.y[sp.test]))
  return float(np.mean(accs))


def test_music_features_shape_and_balance():
  ds = music_features(0)
  assert ds.x.shape == (576, 25)
  np.testing.assert_array_equal(np.bincount(ds.y), [192, 192, 192])
  assert len(np.unique(ds.groups)) == 24
  assert not ds.info.real
  np.testing.assert_array_equal(ds.x, music_features(0).x)   # seeded
  assert not np.allclose(ds.x, music_features(1).x)


def test_random_split_leaks_grouped_split_does_not():
  ds = music_features(0)
  random_acc = nearest_neighbour_accuracy(ds, kfold(len(ds.y), 8, seed=0))
  grouped_acc = nearest_neighbour_accuracy(ds, group_kfold(ds.groups, 8, seed=0))
  assert random_acc > 0.9          # a participant's own trials give the answer away
  assert grouped_acc < 0.6         # new participants: only the shared effect helps
  assert grouped_acc > 1 / 3       # ... which is real


def test_music_sequences():
  ds = music_sequences(0)
  assert ds.x.shape == (192, 3000, 1)
  assert 2000 <= ds.lengths.min() and ds.lengths.max() <= 3000
  assert len(np.unique(ds.groups)) == 16
  np.testing.assert_array_equal(np.bincount(ds.y), [64, 64, 64])
  i = int(np.argmin(ds.lengths))
  np.testing.assert_array_equal(ds.x[i, ds.lengths[i]:], 0.0)
