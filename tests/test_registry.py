import numpy as np
import pytest

from eegjax.data import DataError, DataSpec, load
from eegjax.data.registry import infer_format


@pytest.mark.parametrize("name, shape, real, rate", [
    ("scp1", (561, 896, 6), True, 256.0),
    ("eyes", (98, 128, 14), True, 128.0),
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
