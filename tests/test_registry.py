import numpy as np
import pytest

from eegjax.data import DataError, DataSpec, load
from eegjax.data.registry import infer_format


@pytest.mark.parametrize("name, shape, real, rate", [
    ("scp1", (561, 896, 6), True, 256.0),
    ("eyes", (98, 128, 14), True, 128.0),
    ("finger", (416, 50, 28), True, 100.0),
    ("scp2", (380, 1152, 7), True, 256.0),
    ("hmd", (234, 400, 10), True, 400.0),
    ("music_features", (576, 25), False, None),
])
def test_builtin_datasets(name, shape, real, rate):
  ds = load(DataSpec(dataset=name))
  assert ds.x.shape == shape and ds.x.dtype == np.float32
  assert ds.info.real is real and ds.info.sampling_rate == rate
  assert np.all(np.isfinite(ds.x))


def test_vendored_scp1_matches_competition_counts():
  ds = load(DataSpec(dataset="scp1"))
  assert ds.class_names == ("negativity", "positivity")
  assert ds.info.channel_names == ("A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p")
  assert np.bincount(ds.y).sum() == 561 and ds.groups is None


def test_selection_errors(tmp_path):
  with pytest.raises(DataError, match="--dataset='nope': unknown"):
    load(DataSpec(dataset="nope"))
  with pytest.raises(DataError, match="no such file"):
    load(DataSpec(data_path=str(tmp_path / "missing.csv")))
  with pytest.raises(DataError, match="--data_format=csv given without --data_path"):
    load(DataSpec(data_format="csv"))
  with pytest.raises(DataError, match="--data_format='xls'"):
    load(DataSpec(data_path=__file__, data_format="xls"))
  with pytest.raises(DataError, match="cannot tell the format"):
    infer_format("data.xyz")


def test_path_and_format_select_a_file(tmp_path):
  p = tmp_path / "t.txt"
  p.write_text("f1,f2,y,who\n1,2,a,p\n2,3,b,q\n")
  ds = load(DataSpec(data_path=str(p), data_format="csv", label_column="y",
                     group_column="who"))
  assert ds.x.shape == (2, 2) and ds.groups is not None
  assert infer_format("x/y/z.ts.gz") == "ts"


@pytest.mark.parametrize("name, train, test", [
    ("scp1", 268, 293), ("eyes", 56, 42), ("finger", 316, 100), ("scp2", 200, 180),
    ("hmd", 160, 74)])
def test_vendored_sets_keep_their_official_split(name, train, test):
  """The upstream TRAIN rows first, then the TEST rows, marked official_test."""
  ds = load(DataSpec(dataset=name))
  assert ds.official_test is not None and ds.official_test.dtype == bool
  assert (~ds.official_test).sum() == train and ds.official_test.sum() == test
  assert not ds.official_test[:train].any() and ds.official_test[train:].all()
  assert ds.summary()["official_split"] == {"train_rows": train, "test_rows": test}


def _csv(path, rows):
  path.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
  return str(path)


def test_test_path_appends_the_official_test_file(tmp_path):
  tr = _csv(tmp_path / "X_TRAIN.csv", [(1, 2, "u"), (2, 3, "v"), (3, 1, "u")])
  te = _csv(tmp_path / "X_TEST.csv", [(5, 5, "v"), (6, 4, "u")])
  ds = load(DataSpec(data_path=tr, test_path=te))
  np.testing.assert_array_equal(ds.x, [[1, 2], [2, 3], [3, 1], [5, 5], [6, 4]])
  np.testing.assert_array_equal(ds.official_test, [False, False, False, True, True])
  assert ds.class_names == ("u", "v") and "X_TEST.csv" in ds.info.source


def test_test_path_mistakes_name_the_file(tmp_path):
  tr = _csv(tmp_path / "tr.csv", [(1, 2, "u"), (2, 3, "v")])
  other = _csv(tmp_path / "te.csv", [(1, 2, "u"), (2, 3, "w")])
  with pytest.raises(DataError, match=r"--test_path=.*te.csv: classes \['u', 'w'\]; "
                                      r"expected the training file's \['u', 'v'\]"):
    load(DataSpec(data_path=tr, test_path=other))
  with pytest.raises(DataError, match="--test_path=.* given without --data_path"):
    load(DataSpec(test_path=other))
  (tmp_path / "wide.csv").write_text("a,b,c,label\n1,2,3,u\n2,3,4,v\n")
  with pytest.raises(DataError, match=r"examples shaped \(3,\); expected .* \(2,\)"):
    load(DataSpec(data_path=tr, test_path=str(tmp_path / "wide.csv")))


def test_vendored_hmd_matches_the_upstream_class_counts():
  """HandMovementDirection: 40 training trials a direction; the test file's 14 right, 30
  forward, 15 left and 15 backward (upstream label order), four classes named."""
  d = load(DataSpec(dataset="hmd"))
  y, test = np.asarray(d.y), np.asarray(d.official_test)
  assert np.bincount(y[~test]).tolist() == [40, 40, 40, 40]
  assert np.bincount(y[test]).tolist() == [14, 30, 15, 15]
  assert d.class_names == ("right", "forward", "left", "backward")
  assert "MEG, not EEG" in d.info.description
