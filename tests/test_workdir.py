import json

import numpy as np
import pytest

from eegjax.run.workdir import Workdir, WorkdirError


def test_files_are_written_and_finished_runs_protected(tmp_path):
  wd = Workdir(str(tmp_path / "run"))
  wd.log("hello")
  wd.write_json("results.json", {"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
  wd.write_csv("t.csv", ["x", "y"], [[1, 0.123456789]])
  assert json.loads((tmp_path / "run" / "results.json").read_text()) == {
      "a": 0.5, "b": [0, 1], "c": None}
  assert (tmp_path / "run" / "t.csv").read_text().splitlines() == ["x,y", "1,0.123457"]
  assert "hello" in (tmp_path / "run" / "log.txt").read_text()
  assert not list((tmp_path / "run").glob("*.tmp"))
  assert not Workdir(str(tmp_path / "run")).finished    # results.json, but not finish()ed
  wd.finish("wrote everything")
  again = Workdir(str(tmp_path / "run"))
  assert again.finished and again.started
  Workdir(str(tmp_path / "run"), overwrite=True)
  assert not (tmp_path / "run" / "results.json").exists()


def test_a_started_run_with_other_flags_is_refused(tmp_path):
  wd = Workdir(str(tmp_path / "run"))
  wd.write_text("flags.cfg", "--epochs=10\n--seed=0\n--dataset=scp1\n")
  wd.check_same_run("--epochs=20\n--seed=0\n")      # nothing started yet: allowed
  (tmp_path / "run" / "checkpoints" / "train").mkdir(parents=True)
  wd.check_same_run("--epochs=10\n--seed=0\n--dataset=scp1\n")   # same flags: resume
  with pytest.raises(WorkdirError, match=r"different flags: --dataset \(was 'scp1', now "
                     r"'unset'\); --epochs \(was '10', now '20'\).*--overwrite"):
    wd.check_same_run("--epochs=20\n--seed=0\n")


def test_bad_workdirs(tmp_path):
  with pytest.raises(WorkdirError, match="--workdir is empty"):
    Workdir("")
  (tmp_path / "file").write_text("x")
  with pytest.raises(WorkdirError, match="is a file"):
    Workdir(str(tmp_path / "file"))
