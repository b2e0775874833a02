import dataclasses
import json

import numpy as np
import pytest

from eegjax.run import identity
from eegjax.run.workdir import Workdir, WorkdirError
from eegjax.settings import setting


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


@dataclasses.dataclass(frozen=True)
class _Train:
  epochs: int = setting(100, "epochs")
  learning_rate: float = setting(0.01, "step size", flag="lr")


@dataclasses.dataclass(frozen=True)
class _Cfg:
  train: _Train
  dataset: str = setting("scp1", "the data")
  seed: int = setting(0, "seed")
  workdir: str = setting("", "where")
  overwrite: bool = setting(False, "afresh")

  def to_json(self):
    return dataclasses.asdict(self)


def test_a_started_run_with_other_settings_is_refused_naming_them(tmp_path):
  """The identity is config.json, compared setting by setting, where the run lives
  apart; a setting the record lacks (added after the run was made) is its default."""
  wd = Workdir(str(tmp_path / "run"))
  made = _Cfg(_Train(epochs=10), workdir="/old/place")
  wd.write_json("config.json", made.to_json())
  wd.check_same_run(identity.of(_Cfg(_Train(epochs=20))))   # nothing started: allowed
  (tmp_path / "run" / "checkpoints" / "train").mkdir(parents=True)
  wd.check_same_run(identity.of(dataclasses.replace(made, workdir="/new/place")))
  with pytest.raises(WorkdirError, match=r"different settings: --epochs \(was 10, now 20\); "
                     r"--lr \(was 0.01, now 0.1\)\..*--overwrite"):
    wd.check_same_run(identity.of(_Cfg(_Train(epochs=20, learning_rate=0.1))))
  # a record written before `seed` existed: the run was made at seed's default
  old = made.to_json()
  del old["seed"]
  wd.write_json("config.json", old)
  wd.check_same_run(identity.of(made))
  with pytest.raises(WorkdirError, match=r"--seed \(was 0, now 3\)"):
    wd.check_same_run(identity.of(dataclasses.replace(made, seed=3)))
  # a setting the code no longer has is not compared; flags.cfg is not the record
  wd.write_json("config.json", {**made.to_json(), "gone": 1})
  wd.write_text("flags.cfg", "--epochs=999\n")
  wd.check_same_run(identity.of(made))


def test_bad_workdirs(tmp_path):
  with pytest.raises(WorkdirError, match="--workdir is empty"):
    Workdir("")
  (tmp_path / "file").write_text("x")
  with pytest.raises(WorkdirError, match="is a file"):
    Workdir(str(tmp_path / "file"))
