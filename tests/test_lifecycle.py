"""The one study lifecycle (eegjax.run.lifecycle): a study returns its Results and the
runner writes them, results.json first and the finished mark last; a finished run is
returned without running the study; a run stopped while its files were written is not
finished, and its rerun writes them all."""

import dataclasses
import json
import os

import numpy as np
import pytest

from eegjax.run.lifecycle import Results, run_study
from eegjax.run.workdir import PENDING, WorkdirError


@dataclasses.dataclass(frozen=True)
class Cfg:
  workdir: str
  epochs: int = 3
  overwrite: bool = False

  def to_json(self):
    return dataclasses.asdict(self)


def _study(calls, seen, fail_drawing=False):
  """A study that records each call and, while each file is written, whether results.json
  and the pending mark were there."""
  def study(wd):
    calls.append(wd.path)

    def draw(path):
      seen.append((os.path.exists(wd.file("results.json")),
                   os.path.exists(wd.file(PENDING))))
      if fail_drawing:
        raise KeyboardInterrupt          # stopped while drawing: after results.json
      with open(path, "wb") as f:
        f.write(b"png")
    return Results({"accuracy": np.float32(0.75), "per_model": np.arange(3)},
                   tables={"table.csv": (["a", "b"], [[1, 0.5]])},
                   texts={"summary.md": "# a summary\n"},
                   arrays={"history.npz": {"loss": np.ones((2, 3))}},
                   figures=[("figure.png", draw)], timing={"train_s": 1.5},
                   lines=["accuracy 0.75"], closing="training 1.5s")
  return study


def test_the_runner_writes_every_file_results_first_and_the_mark_last(tmp_path):
  calls, seen = [], []
  cfg = Cfg(str(tmp_path / "run"))
  out = run_study(cfg, "--epochs=3\n", _study(calls, seen))
  run = tmp_path / "run"
  assert out == {"accuracy": 0.75, "per_model": [0, 1, 2]}         # as JSON
  assert json.loads((run / "results.json").read_text()) == out
  assert (run / "table.csv").read_text().splitlines() == ["a,b", "1,0.5"]
  assert (run / "summary.md").read_text() == "# a summary\n"
  np.testing.assert_array_equal(np.load(run / "history.npz")["loss"], np.ones((2, 3)))
  assert (run / "figure.png").read_bytes() == b"png"
  timing = json.loads((run / "timing.json").read_text())
  assert timing["train_s"] == 1.5 and timing["total_s"] >= 0
  assert (run / "flags.cfg").read_text() == "--epochs=3\n"
  assert json.loads((run / "config.json").read_text())["epochs"] == 3
  assert seen == [(True, True)]           # drawn after results.json, before the end
  assert not (run / PENDING).exists()
  log = (run / "log.txt").read_text().splitlines()
  assert "accuracy 0.75" in log[-2]
  assert ("wrote " in log[-1] and "results.json table.csv summary.md history.npz "
          "figure.png timing.json (training 1.5s, total" in log[-1])
  # finished: the same command returns its results.json and runs nothing
  assert run_study(cfg, "--epochs=3\n", _study(calls, seen)) == out
  assert len(calls) == 1
  # another run's flags are refused before anything runs
  with pytest.raises(WorkdirError, match=r"different settings: epochs \(was 3, now 4\)"):
    run_study(Cfg(str(run), epochs=4), "--epochs=4\n", _study(calls, seen))
  assert len(calls) == 1


def test_a_run_stopped_while_writing_its_files_is_not_finished_and_writes_them_again(
    tmp_path):
  calls, seen = [], []
  cfg = Cfg(str(tmp_path / "run"))
  with pytest.raises(KeyboardInterrupt):
    run_study(cfg, "--epochs=3\n", _study(calls, seen, fail_drawing=True))
  run = tmp_path / "run"
  assert (run / "results.json").exists() and (run / PENDING).exists()
  assert not (run / "timing.json").exists()
  run_study(cfg, "--epochs=3\n", _study(calls, seen))
  assert len(calls) == 2                  # the study ran again (from its checkpoints)
  assert (run / "figure.png").exists() and (run / "timing.json").exists()
  assert not (run / PENDING).exists()
  assert "stopped while writing its results files" in (run / "log.txt").read_text()
