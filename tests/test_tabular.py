import numpy as np
import pytest

from eegjax.data.dataset import DataError, DatasetInfo, make_dataset
from eegjax.data.tabular import load_csv, load_npz, save_npz


def csv_file(tmp_path, text, name="f.csv"):
  p = tmp_path / name
  p.write_text(text)
  return str(p)


def test_csv_with_groups(tmp_path):
  path = csv_file(tmp_path, "a,b,label,subject\n1,2,happy,s1\n3,4,sad,s2\n5,6,happy,s2\n")
  ds = load_csv(path, label_column="label", group_column="subject")
  np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6]])
  np.testing.assert_array_equal(ds.y, [0, 1, 0])
  np.testing.assert_array_equal(ds.groups, [0, 1, 1])
  assert ds.class_names == ("happy", "sad")
  assert ds.info.feature_names == ("a", "b")


def test_csv_numeric_labels_sorted_numerically(tmp_path):
  ds = load_csv(csv_file(tmp_path, "x,label\n1,10\n2,9\n3,10\n"))
  assert ds.class_names == ("9", "10")
  np.testing.assert_array_equal(ds.y, [1, 0, 1])


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b,label\n1,2,x\n3,y\n", {}, r"f.csv:3: 2 fields, expected 3 .*ragged"),
    ("a,b,label\n1,2,x\n3,abc,y\n", {}, r"f.csv:3: column 'b' has 'abc'; expected a number"),
    ("a,b,label\n1,2,x\n3,nan,y\n", {}, r"f.csv:3: column 'b' is nan"),
    ("a,b,label\n1,2,x\n3,inf,y\n", {}, r"f.csv:3: column 'b' is inf"),
    ("a,b,label\n1,2,x\n3,4,x\n", {}, r"at least two"),
    ("a,b,cls\n1,2,x\n3,4,y\n", {}, r"f.csv:1: no label column 'label'"),
    ("a,b,label\n1,2,x\n3,4,y\n", {"group_column": "subj"}, r"no group column 'subj'"),
    ("a,b,label\n1,2,x\n3,4,z\n", {"classes": ["x", "y"]}, r"f.csv:3: unknown label 'z'"),
    ("a,b,label\n", {}, r"no data rows"),
    ("\n\n", {}, r"empty file"),
])
def test_csv_errors(tmp_path, text, kwargs, match):
  with pytest.raises(DataError, match=match):
    load_csv(csv_file(tmp_path, text), **kwargs)


def test_csv_missing_and_empty(tmp_path):
  with pytest.raises(DataError, match="no such file"):
    load_csv(str(tmp_path / "none.csv"))
  with pytest.raises(DataError, match="empty file"):
    load_csv(csv_file(tmp_path, ""))


def test_npz_round_trip(tmp_path):
  info = DatasetInfo(name="rt", source="test", real=False, sampling_rate=100.0,
                     channel_names=("c0", "c1"))
  x = np.random.default_rng(0).normal(size=(4, 5, 2))
  ds = make_dataset(x, [0, 1, 1, 0], ("a", "b"), info, groups=[0, 0, 1, 1],
                    lengths=[5, 3, 4, 5])
  path = str(tmp_path / "rt.npz")
  save_npz(path, ds)
  back = load_npz(path)
  np.testing.assert_array_equal(back.x, ds.x)
  np.testing.assert_array_equal(back.lengths, ds.lengths)
  np.testing.assert_array_equal(back.groups, ds.groups)
  assert back.class_names == ("a", "b") and back.info.sampling_rate == 100.0
  assert back.info.real is False and back.info.channel_names == ("c0", "c1")


@pytest.mark.parametrize("arrays, match", [
    ({"y": np.array([0, 1])}, r"missing array 'x'"),
    ({"x": np.zeros((2, 3)), "y": np.array([0, 3]), "class_names": np.array(["a", "b"])},
     r"unknown label 3"),
    ({"x": np.array([[0.0], [np.nan]]), "y": np.array([0, 1])}, r"NaN or inf"),
    ({"x": np.zeros((2, 3, 1)), "y": np.array([0, 1]), "lengths": np.array([3, 0])},
     r"example 1 has length 0"),
    ({"x": np.zeros((2, 3, 1)), "y": np.array([0, 1]), "lengths": np.array([3, 9])},
     r"length 9 beyond the padded length 3"),
    ({"x": np.zeros((2, 3)), "y": np.array([1, 1])}, r"at least two classes"),
])
def test_npz_errors(tmp_path, arrays, match):
  path = str(tmp_path / "bad.npz")
  np.savez(path, **arrays)
  with pytest.raises(DataError, match=match):
    load_npz(path)


def test_npz_not_an_archive(tmp_path):
  p = tmp_path / "junk.npz"
  p.write_text("not a zip")
  with pytest.raises(DataError, match="junk.npz: not a readable .npz"):
    load_npz(str(p))
