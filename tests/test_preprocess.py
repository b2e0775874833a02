import numpy as np
import pytest

from eegjax.data.dataset import DataError, DatasetInfo, make_dataset
from eegjax.data.preprocess import fit_minmax, median_filter, one_hot, select_channels


def seq_dataset(x, lengths=None):
  info = DatasetInfo(name="s", source="test", real=False, sampling_rate=10.0,
                     channel_names=tuple(f"c{i}" for i in range(x.shape[2])))
  y = np.arange(x.shape[0]) % 2
  return make_dataset(x, y, ("a", "b"), info, lengths=lengths)


def test_minmax_never_sees_other_rows():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(20, 3))
  train = np.arange(10)
  mm = fit_minmax(x, train)
  x2 = x.copy()
  x2[10:] = 1e6 * rng.normal(size=(10, 3))       # wild test rows
  mm2 = fit_minmax(x2, train)
  np.testing.assert_array_equal(mm.lo, mm2.lo)
  np.testing.assert_array_equal(mm.scale, mm2.scale)
  scaled = mm.apply(x[train])
  np.testing.assert_allclose(scaled.min(0), 0, atol=1e-6)
  np.testing.assert_allclose(scaled.max(0), 1, atol=1e-6)


def test_minmax_sequences_ignore_padding_and_constant_columns():
  x = np.zeros((2, 4, 2), np.float32)
  x[0, :, 0] = [1, 2, 3, 4]
  x[1, :2, 0] = [5, -1]
  x[1, 2:, 0] = 100.0                                # beyond length 2: padding
  mm = fit_minmax(x, np.array([0, 1]), lengths=np.array([4, 2]))
  np.testing.assert_array_equal(mm.lo, [[-1, 0]])
  np.testing.assert_array_equal(mm.scale, [[6, 1]])  # channel 1 constant -> scale 1


def test_median_filter_hand_computed_and_masked():
  x = np.zeros((2, 5, 1), np.float32)
  x[0, :, 0] = [1, 9, 2, 8, 3]
  x[1, :, 0] = [4, 0, 6, 50, 50]
  ds = median_filter(seq_dataset(x, lengths=[5, 3]), 3)
  np.testing.assert_array_equal(ds.x[0, :, 0], [1, 2, 8, 3, 3])   # edges repeat samples
  np.testing.assert_array_equal(ds.x[1, :3, 0], [4, 4, 6])         # padding not used
  with pytest.raises(DataError, match="--median_filter=4: expected an odd width"):
    median_filter(seq_dataset(x), 4)


def test_select_channels_by_name_and_index():
  x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
  ds = select_channels(seq_dataset(x), ["c2", "0"])
  np.testing.assert_array_equal(ds.x[..., 0], x[..., 2])
  assert ds.info.channel_names == ("c2", "c0")
  with pytest.raises(DataError, match="--channels: no channel 'Cz'"):
    select_channels(seq_dataset(x), ["Cz"])


def test_one_hot():
  np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
