"""SMNI readers: files written in both real formats parse back to the arrays that made
them, in every layout UCI ships; each kind of damage is an error naming file and line, or
with skip_bad a reported skip."""

import gzip
import os
import re

import numpy as np
import pytest

from eegjax.data import smni, smni_csv
from eegjax.data.synthetic import smni_trials, write_smni_files
from eegjax.errors import DataError


@pytest.fixture(scope="module")
def trials():
  return smni_trials(0, num_subjects=4, trials_per_subject=3)


def _by_key(got: smni.SmniTrials):
  return {(s, int(t)): (x, c) for s, t, x, c in
          zip(got.subjects, got.trials, got.x, got.conditions)}


def _assert_same(got, trials, both_classes=True):
  assert len(got) == len(trials)
  table = _by_key(got)
  for tr in trials:
    x, cond = table[(tr.subject, tr.trial)]
    np.testing.assert_allclose(x, tr.x, atol=1e-4)
    assert cond == tr.condition
  if both_classes:
    assert set(got.alcoholic.tolist()) == {True, False}
  for s, a in zip(got.subjects, got.alcoholic):
    assert a == (s[3] == "a")


@pytest.mark.parametrize("layout,gz", [("folders", True), ("tar", True), ("flat", False)])
def test_trial_files_parse_back(tmp_path, trials, layout, gz):
  write_smni_files(str(tmp_path), trials, layout=layout, gz=gz)
  got = smni.read_trials(str(tmp_path))
  _assert_same(got, trials)
  assert got.skipped == []
  ds = got.dataset()
  assert ds.x.shape == (12, 256, 64) and ds.class_names == ("control", "alcoholic")
  assert len(np.unique(ds.groups)) == 4


def test_a_single_trial_file(tmp_path, trials):
  path = str(tmp_path / "co2a0000364.rd.000.gz")
  smni.write_trial(path, trials[0])
  got = smni.read_trials(path)
  _assert_same(got, trials[:1], both_classes=False)


def test_csv_export_parses_back(tmp_path, trials):
  path = str(tmp_path / "export.csv")
  smni_csv.write_csv_export(path, trials)
  _assert_same(smni_csv.read_csv_export(path), trials)


@pytest.mark.parametrize("variant", ["as written", "crlf", "tabs", "blank lines",
                                     "indented", "a '#' in a row", "sample as 1.0"])
def test_the_bulk_reader_and_the_line_reader_agree(trials, variant):
  """The fast reader (numpy over whole columns) reads UCI's files; whatever else the line
  reader accepts it leaves to it, so a file reads the same either way or fails naming its
  line."""
  text = smni.format_trial(trials[0])
  text = {"as written": text, "crlf": text.replace("\n", "\r\n"),
          "tabs": text.replace(" ", "\t"), "blank lines": text.replace("\n", "\n\n"),
          "indented": "  " + text.replace("\n", "\n  "),
          "a '#' in a row": text.replace(" FP1 3 ", " FP1 3 # ", 1),
          "sample as 1.0": text.replace(" FP1 0 ", " FP1 0.0 ", 1)}[variant]
  try:
    by_line = smni._parse_trial_lines(text, "f")
  except DataError:
    by_line = None
  bulk = smni._parse_trial_bulk(text, "f")
  if by_line is None:
    assert bulk is None
    with pytest.raises(DataError, match=r"f, line \d+: expected"):
      smni.parse_trial(text, "f")
    return
  got = smni.parse_trial(text, "f")
  np.testing.assert_array_equal(got.x, by_line.x)
  assert (got.subject, got.condition, got.trial) == (by_line.subject, by_line.condition,
                                                     by_line.trial)
  if variant == "as written":
    assert bulk is not None          # UCI's own layout takes the fast path
    np.testing.assert_array_equal(bulk.x, by_line.x)


def _trial_lines(trials):
  return smni.format_trial(trials[0]).splitlines()


def _write(tmp_path, lines, name="co2a1000364.rd.000"):
  p = tmp_path / name
  p.write_text("\n".join(lines) + "\n")
  return str(p)


def _damage(kind, lines):
  lines = list(lines)
  if kind == "truncated":
    return lines[:-10], re.escape("truncated trial: electrode Y has 246 of 256")
  if kind == "missing":
    start = lines.index("# O1 chan 30")
    return lines[:start] + lines[start + 257:], re.escape("missing electrode(s) O1")
  if kind == "duplicate":
    i = lines.index("# FP2 chan 1") + 5         # sample 4 of FP2, written twice
    return (lines[:i] + [lines[i]] + lines[i:],
            f"line {i + 2}: duplicated sample 4 of electrode FP2")
  if kind == "non-numeric":
    i = lines.index("# CZ chan 15") + 2
    parts = lines[i].split()
    lines[i] = " ".join(parts[:3] + ["abc"])
    return lines, f"line {i + 1}: expected integer trial and sample and a numeric value"
  if kind == "non-numeric trial":      # the first field of a data row
    i = lines.index("# CZ chan 15") + 2
    lines[i] = " ".join(["x"] + lines[i].split()[1:])
    return lines, f"line {i + 1}: expected integer trial and sample and a numeric value"
  if kind == "wrong channel header":
    i = lines.index("# CZ chan 15")
    lines[i] = "# CZ chan 16"
    return lines, f"line {i + 1}: electrode CZ is chan 16; the SMNI order has it as chan 15"
  raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "missing", "duplicate", "non-numeric",
                                  "non-numeric trial", "wrong channel header"])
def test_damaged_trial_file_names_file_and_line(tmp_path, trials, kind):
  lines, message = _damage(kind, _trial_lines(trials))
  path = _write(tmp_path, lines)
  with pytest.raises(DataError, match=message) as e:
    smni.read_trials(path)
  assert path in str(e.value)


def test_skip_bad_trials_loads_the_rest_and_reports(tmp_path, trials):
  write_smni_files(str(tmp_path), trials, layout="folders", gz=True)
  target = tmp_path / trials[0].subject / f"{trials[0].subject}.rd.000.gz"
  lines, _ = _damage("duplicate", _trial_lines(trials))
  target.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
  with pytest.raises(DataError, match="duplicated sample"):
    smni.read_trials(str(tmp_path))
  seen = []
  got = smni.read_trials(str(tmp_path), skip_bad=True, log=seen.append)
  assert len(got) == len(trials) - 1
  assert len(got.skipped) == 1 and str(target) in got.skipped[0]
  assert seen and "skipped" in seen[0]


def _csv_rows(tmp_path, trials):
  path = tmp_path / "export.csv"
  smni_csv.write_csv_export(str(path), trials[:2])
  return path, path.read_text().splitlines()


@pytest.mark.parametrize("kind,message", [
    ("truncated", "truncated trial: electrode Y has 250 of 256"),
    ("missing", "missing electrode\\(s\\) FP1"),
    ("duplicate", "line 4: duplicated sample 1 of electrode FP1"),
    ("non-numeric", "line 3: expected an integer sample num and a numeric sensor value"),
])
def test_damaged_csv_export_names_file_and_line(tmp_path, trials, kind, message):
  path, lines = _csv_rows(tmp_path, trials)
  n = 64 * 256
  first = lines[1:1 + n]                       # trial 0's rows
  if kind == "truncated":
    first = first[:-6]
  elif kind == "missing":
    first = first[256:]
  elif kind == "duplicate":
    first = first[:2] + [first[1]] + first[2:]
  elif kind == "non-numeric":
    parts = first[1].split(",")
    parts[4] = "n/a"
    first = [first[0], ",".join(parts)] + first[2:]
  path.write_text("\n".join([lines[0]] + first + lines[1 + n:]) + "\n")
  with pytest.raises(DataError, match=message) as e:
    smni_csv.read_csv_export(str(path))
  assert str(path) in str(e.value)
  got = smni_csv.read_csv_export(str(path), skip_bad=True, log=lambda m: None)
  assert len(got) == 1 and len(got.skipped) == 1


@pytest.mark.parametrize("text,expected", [
    ("S1 obj ", "S1 obj"), ("S2 match", "S2 match"), ("S2 nomatch,", "S2 nomatch"),
    ("S2 nomatch ,", "S2 nomatch"), ("S2 match err", "S2 match")])
def test_stimulus_conditions(text, expected):
  assert smni._condition(text, "here") == expected


def test_not_smni_is_a_clear_error(tmp_path):
  p = tmp_path / "notes.rd.000"
  p.write_text("hello\n")
  with pytest.raises(DataError, match="expected 4 fields"):
    smni.read_trials(str(p))
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="no SMNI trial files found"):
    smni.read_trials(str(tmp_path / "empty"))
  with pytest.raises(DataError, match="missing column"):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    smni_csv.read_csv_export(str(bad))
  assert os.path.exists(p)


def test_registry_reads_both_formats_and_skips_on_request(tmp_path, trials):
  from eegjax.data.registry import DataSpec, load, smni_synthetic
  write_smni_files(str(tmp_path / "files"), trials, layout="tar")
  ds = load(DataSpec(data_path=str(tmp_path / "files")))          # format inferred
  assert ds.x.shape == (12, 256, 64) and ds.info.sampling_rate == 256.0
  assert ds.info.real                      # a user's files are taken as recorded EEG
  csv_path = tmp_path / "export.csv"
  smni_csv.write_csv_export(str(csv_path), trials)
  ds2 = load(DataSpec(data_path=str(csv_path), data_format="smni_csv"))
  np.testing.assert_allclose(np.sort(ds2.x.ravel()), np.sort(ds.x.ravel()), atol=1e-4)
  bad = tmp_path / "flat"
  write_smni_files(str(bad), trials[:6], layout="flat", gz=False)   # two subjects
  first = sorted(bad.iterdir())[0]
  first.write_text(first.read_text().replace(" -", " x", 1))
  with pytest.raises(DataError, match=re.escape(str(first))):
    load(DataSpec(data_path=str(bad), data_format="smni"))
  kept = load(DataSpec(data_path=str(bad), data_format="smni", skip_bad_trials=True))
  assert kept.num_examples == 5
  synth = smni_synthetic(0, num_subjects=2, trials_per_subject=2)
  assert synth.real is False and synth.name == "smni_synthetic" and len(synth) == 4
