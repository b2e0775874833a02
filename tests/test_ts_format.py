import gzip

import numpy as np
import pytest

from eegjax.data.dataset import DataError
from eegjax.data.ts_format import load_ts

HEADER = """# a comment
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength {eq}
@classLabel true up down
@data
"""


def write(tmp_path, body, eq="true", name="toy.ts", header=None):
  p = tmp_path / name
  p.write_text((HEADER.format(eq=eq) if header is None else header) + body)
  return str(p)


def test_equal_length_multichannel(tmp_path):
  path = write(tmp_path, "1,2,3:4,5,6:up\n7,8,9:10,11,12:down\n0,0,1:1,0,0:up\n")
  ds = load_ts(path)
  assert ds.x.shape == (3, 3, 2)
  np.testing.assert_array_equal(ds.x[0, :, 0], [1, 2, 3])
  np.testing.assert_array_equal(ds.x[1, :, 1], [10, 11, 12])
  np.testing.assert_array_equal(ds.y, [0, 1, 0])
  assert ds.class_names == ("up", "down")
  assert ds.lengths is None and ds.info.name == "Toy"


def test_unequal_length_padded_with_lengths(tmp_path):
  path = write(tmp_path, "1,2,3,4:5,6,7,8:up\n1,2:3,4:down\n", eq="false")
  ds = load_ts(path)
  assert ds.x.shape == (2, 4, 2)
  np.testing.assert_array_equal(ds.lengths, [4, 2])
  np.testing.assert_array_equal(ds.x[1, 2:], 0.0)


def test_gzip(tmp_path):
  p = tmp_path / "toy.ts.gz"
  with gzip.open(p, "wt") as f:
    f.write(HEADER.format(eq="true") + "1,2:3,4:up\n5,6:7,8:down\n")
  assert load_ts(str(p)).x.shape == (2, 2, 2)


@pytest.mark.parametrize("body, eq, match", [
    ("1,2,3:4,5,6:up\n1,2,3:down\n", "true", r"toy.ts:10: 1 channels.*first case \(line 9\)"),
    ("1,2,3:4,x,6:up\n1,2,3:4,5,6:down\n", "true", r"toy.ts:9: channel 1, value 1: 'x'"),
    ("1,2,3:4,?,6:up\n1,2,3:4,5,6:down\n", "true", r"missing value"),
    ("1,nan,3:4,5,6:up\n1,2,3:4,5,6:down\n", "true", r"toy.ts:9: channel 0, value 1 is nan"),
    ("1,2,3:4,5,6:up\n1,2,3:4,5,6:up\n", "true", r"single|at least two"),
    ("1,2,3:4,5,6:up\n1,2,3:4,5,6:sideways\n", "true", r"toy.ts:10: unknown label 'sideways'"),
    ("1,2,3:4,5,6:up\n:4,5,6:down\n", "false", r"toy.ts:10: channel 0 is empty"),
    ("1,2,3:4,5:up\n1,2,3:4,5,6:down\n", "true", r"toy.ts:9: channels have lengths \[3, 2\]"),
    ("1,2,3:4,5,6:up\n1,2:4,5:down\n", "true", r"@equalLength true"),
    ("", "true", r"empty file"),
])
def test_errors_name_file_and_line(tmp_path, body, eq, match):
  with pytest.raises(DataError, match=match):
    load_ts(write(tmp_path, body, eq=eq))


def test_missing_file_and_missing_data_section(tmp_path):
  with pytest.raises(DataError, match="nope.ts: no such file"):
    load_ts(str(tmp_path / "nope.ts"))
  with pytest.raises(DataError, match="no @data line"):
    load_ts(write(tmp_path, "", header="@problemName X\n"))
  with pytest.raises(DataError, match="timestamps"):
    load_ts(write(tmp_path, "", header="@timeStamps true\n@data\n"))
