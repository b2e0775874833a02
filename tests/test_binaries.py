"""Smoke tests of the experiment binaries: main() for two epochs under flagsaver, and the
command line's handling of a user's mistake."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from absl.testing import flagsaver

from conftest import REPO, TRAIN_MLP, TRAIN_RNN


def read(workdir, name):
  return json.loads((workdir / name).read_text())


def test_train_mlp_main_on_music_features(binary, tmp_path, reference_run):
  """The shared reference run (conftest.TRAIN_MLP), copied: its files, then the same
  command again (done: nothing rerun) and another (refused, nothing touched)."""
  mod = binary("train_mlp")
  wd = tmp_path / "mlp"
  shutil.copytree(reference_run(mod, "train_mlp", **TRAIN_MLP), wd)
  res = read(wd, "results.json")
  assert res["dataset"]["name"] == "music_features" and res["dataset"]["data"] == "synthetic"
  assert res["protocol"]["split"] == "group" and res["protocol"]["seeds"] == [0, 1]
  assert len(res["runs"]) == 6 and res["summary"]["accuracy"]["n"] == 6
  assert {"loss", "accuracy", "precision", "recall", "specificity", "f1"} <= set(
      res["runs"][0]["test"])
  for f in ("flags.cfg", "results.csv", "timing.json", "history.npz", "log.txt"):
    assert (wd / f).exists(), f
  assert np.load(wd / "history.npz")["train_loss"].shape == (3, 2, 4)
  assert "--dataset=music_features" in (wd / "flags.cfg").read_text()
  assert "--overwrite" not in (wd / "flags.cfg").read_text()
  before = (wd / "results.json").read_bytes()
  timing = (wd / "timing.json").stat().st_mtime_ns
  with flagsaver.flagsaver(workdir=str(wd), **TRAIN_MLP):
    mod.main(["train_mlp.py"])                   # same flags: it is done, nothing rerun
  assert (wd / "results.json").read_bytes() == before
  assert (wd / "timing.json").stat().st_mtime_ns == timing
  with flagsaver.flagsaver(workdir=str(wd), **{**TRAIN_MLP, "epochs": 3}):
    with pytest.raises(SystemExit):              # other flags: refused, nothing touched
      mod.main(["train_mlp.py"])
  assert (wd / "results.json").read_bytes() == before


def test_train_mlp_main_on_real_eeg_features(binary, tmp_path):
  mod = binary("train_mlp")
  wd = tmp_path / "scp1"
  with flagsaver.flagsaver(dataset="eyes", epochs=2, num_folds=2, channels=["O1", "O2"],
                           workdir=str(wd)):
    mod.main(["train_mlp.py"])
  res = read(wd, "results.json")
  assert res["dataset"]["data"] == "real" and res["dataset"]["name"] == "eyes"
  assert res["dataset"]["inputs"].startswith("trial features: 25 per channel x 2")
  assert res["model"]["num_params"] == 50 * 30 + 30 + 30 * 2 + 2


def test_train_rnn_main(binary, reference_run):
  wd = reference_run(binary("train_rnn"), "train_rnn", **TRAIN_RNN)
  res = read(wd, "results.json")
  assert res["model"]["family"] == "rnn" and len(res["runs"]) == 2
  assert res["dataset"]["inputs"].startswith("raw sequences, 1 channel")


@pytest.mark.parametrize("args, message", [
    (["--dataset=music_features", "--split=group", "--num_folds=30"],
     "--num_folds=30 exceeds the number of groups"),
])
def test_user_errors_exit_with_one_line(tmp_path, args, message):
  """The real entry point (a process): exit code 1, the message, no traceback. The
  corpus of bad inputs runs in process (tests/test_bad_inputs.py)."""
  proc = subprocess.run(
      [sys.executable, str(REPO / "experiments" / "train_mlp.py"), "--epochs=1",
       f"--workdir={tmp_path / 'w'}", *args], capture_output=True, text=True, cwd=REPO)
  assert proc.returncode == 1
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_train_mlp_on_smni_files_with_band_power_and_a_subject_holdout(binary, tmp_path):
  """The alcoholism study's direct classifier path: SMNI trial files (tar archives, one
  malformed trial skipped) -> 192 log band powers -> one 8:2 split by whole subjects."""
  from eegjax.data import smni
  from eegjax.data.synthetic import smni_trials, write_smni_files
  trials = smni_trials(0, num_subjects=10, trials_per_subject=4)
  files = tmp_path / "smni"
  write_smni_files(str(files), trials[:36], layout="flat", gz=False)
  broken = files / f"{trials[0].subject}.rd.001"
  broken.write_text(broken.read_text()[:-2000])          # truncated
  wd = tmp_path / "alc"
  mod = binary("train_mlp")
  with flagsaver.flagsaver(data_path=str(files), data_format="smni", skip_bad_trials=True,
                           inputs="band_power", hidden_sizes=["16", "8", "4"],
                           activation="relu", learning_rate=0.001, epochs=3,
                           split="group_holdout", num_folds=5, num_seeds=2,
                           workdir=str(wd)):
    mod.main(["train_mlp.py"])
  res = read(wd, "results.json")
  assert res["protocol"]["split"] == "group_holdout" and res["protocol"]["num_folds"] == 1
  assert res["dataset"]["num_examples"] == 35 and res["dataset"]["num_groups"] == 9
  assert "1 malformed trial(s) skipped" in res["dataset"]["description"]
  assert str(broken) in res["dataset"]["description"]
  assert len(res["runs"]) == 2
  run = res["runs"][0]
  assert run["n_train"] + run["n_test"] == 35 and run["n_test"] in (7, 8)
  log = (wd / "log.txt").read_text()
  assert "log10 band power (theta, alpha, beta) x 64 channel(s) = 192" in log
  assert smni.CHANNELS[0] == "FP1"


def test_train_mlp_on_the_official_split_tests_on_the_official_test_rows(binary, tmp_path):
  """--split=official on a vendored set: one fold, trained on the upstream TRAIN rows (a
  validation part carved from them) and tested on the upstream TEST rows as given."""
  mod = binary("train_mlp")
  wd = tmp_path / "official"
  with flagsaver.flagsaver(workdir=str(wd), dataset="eyes", split="official", epochs=3,
                           hidden_sizes=["4"], num_seeds=2, val_fraction=0.2):
    mod.main(["train_mlp.py"])
  res = json.loads((wd / "results.json").read_text())
  assert res["protocol"]["split"] == "official"
  assert res["protocol"]["test_part"].startswith("the data's official test file")
  assert [r["n_test"] for r in res["runs"]] == [42, 42]
  assert [r["n_train"] + r["n_val"] for r in res["runs"]] == [56, 56]
  assert res["dataset"]["official_split"] == {"train_rows": 56, "test_rows": 42}
