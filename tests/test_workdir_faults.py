"""Workdir faults as a user meets them: a second process on a busy workdir, a full disk, a
results.json cut short, a run stopped between its results files, --overwrite beside the
user's own files, a lost flags.cfg, a workdir that cannot be written, a moved workdir,
Ctrl-C and SIGTERM. Each ends with one clear line, loses nothing, and the same command
afterwards finishes the run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import orbax.checkpoint as ocp
import pytest
from absl.testing import flagsaver

from conftest import PRUNE_MLP, REPO, TRAIN_MLP
from eegjax.run import identity
from eegjax.run.workdir import DiskFull, Workdir, WorkdirError

TRAIN, PRUNE = TRAIN_MLP, PRUNE_MLP
# what tensorstore raises when the device is full (as seen on a full tmpfs)
ENOSPC = ("RESOURCE_EXHAUSTED: Error writing \"ids/.zarray\" in OCDBT database: Failed to "
          "write 200 bytes to file 16: No space left on device [os_error_code='28']")


def cli(name, workdir, *extra):
  args = [f"--{k}={','.join(v) if isinstance(v, list) else v}" for k, v in TRAIN.items()]
  return [sys.executable, str(REPO / "experiments" / f"{name}.py"), *args, *extra,
          f"--workdir={workdir}"]


def test_a_busy_workdir_is_refused_at_once_naming_its_holder(tmp_path):
  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; from eegjax.run.workdir import Workdir; "
       f"Workdir({str(tmp_path / 'run')!r}); print('held', flush=True); time.sleep(3600)"],
      cwd=REPO, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WorkdirError, match=rf"is in use by process {holder.pid} on "):
      Workdir(str(tmp_path / "run"))
    # refused, not kept waiting for the lock: it ends while the holder still holds it (the
    # holder lives until killed below; no wall-clock bound, which a loaded machine breaks)
    proc = subprocess.run(cli("train_mlp", tmp_path / "run"), cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1 and holder.poll() is None
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --workdir=") \
        and f"in use by process {holder.pid}" in lines[0]
    assert not (tmp_path / "run" / "flags.cfg").exists()       # nothing was written
  finally:
    holder.kill()
    holder.wait()
  Workdir(str(tmp_path / "run"))            # the holder is gone: its lock went with it


def test_a_full_disk_ends_with_one_line_and_the_run_resumes(binary, reference_run, tmp_path,
                                                            monkeypatch, capsys):
  mod = binary("prune_mlp")
  full = reference_run(mod, "prune_mlp", **PRUNE)
  real_save, saves = ocp.CheckpointManager.save, []

  def save(self, step, *a, **k):      # the device fills up at magnitude/mean's step 2
    saves.append((self.directory.name, step))
    if (self.directory.name, step) == ("magnitude-mean", 2):
      raise ValueError(ENOSPC)
    return real_save(self, step, *a, **k)

  monkeypatch.setattr(ocp.CheckpointManager, "save", save)
  # every size its own checkpoint (not one block per short curve), so the disk fills up
  # after a good one
  from eegjax.studies.prune import study
  monkeypatch.setattr(study, "SAVE_EVERY_S", 0.0)
  # the reference run as if stopped before magnitude's pruning: training and
  # distinctiveness resume from their checkpoints, magnitude is pruned afresh
  wd = tmp_path / "cut"
  shutil.copytree(full, wd)
  os.remove(wd / "results.json")
  shutil.rmtree(wd / "checkpoints" / "magnitude-mean")
  with flagsaver.flagsaver(workdir=str(wd), **PRUNE), pytest.raises(SystemExit) as stop:
    mod.main(["prune_mlp.py"])
  assert stop.value.code == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: no space left on the device while "
                                             "saving checkpoint 2") \
      and "the last good checkpoint (0) is intact" in err[0]
  assert sorted(os.listdir(wd / "checkpoints" / "magnitude-mean")) == ["0"]
  monkeypatch.setattr(ocp.CheckpointManager, "save", real_save)   # space freed
  with flagsaver.flagsaver(workdir=str(wd), **PRUNE):
    mod.main(["prune_mlp.py"])
  assert (wd / "results.json").read_bytes() == (full / "results.json").read_bytes()


def test_a_full_disk_while_writing_a_file_names_it(tmp_path, monkeypatch):
  wd = Workdir(str(tmp_path / "run"), echo=False)
  wd.write_json("results.json", {"a": 1})

  class Full:
    def __init__(self, *a, **k):
      pass

    def __enter__(self):
      return self

    def __exit__(self, *a):
      return False

    def write(self, _):
      raise OSError(28, "No space left on device")

  monkeypatch.setattr("builtins.open", Full)
  with pytest.raises(DiskFull, match=r"while writing results.json; files written before "
                                     r"are intact"):
    wd.write_json("results.json", {"a": 2})
  monkeypatch.undo()
  assert wd.read_json("results.json") == {"a": 1}          # the old file is whole


def test_a_results_file_cut_short_is_named_and_redone_from_checkpoints(binary, reference_run,
                                                                       tmp_path):
  mod = binary("train_mlp")
  wd = tmp_path / "run"
  shutil.copytree(reference_run(mod, "train_mlp", **TRAIN), wd)
  whole = (wd / "results.json").read_bytes()
  (wd / "results.json").write_bytes(whole[:len(whole) // 3])
  with flagsaver.flagsaver(workdir=str(wd), **TRAIN):
    mod.main(["train_mlp.py"])
  assert (wd / "results.json").read_bytes() == whole
  assert (wd / "results.json.damaged").read_bytes() == whole[:len(whole) // 3]
  # redone from the checkpoints: no epoch was trained again (no checkpoint saved)
  assert json.loads((wd / "timing.json").read_text())["checkpoints_saved"] == 0


def test_a_binary_rerun_is_checked_against_the_runs_config_json(binary, reference_run,
                                                                tmp_path, capsys):
  """The one identity record: another setting is refused naming its flag (flags.cfg is
  only the replay, so editing it changes nothing), and a config.json written before a
  setting existed (here: --repeats and --cell, added later) is the run at their
  defaults."""
  mod = binary("train_mlp")
  wd = tmp_path / "run"
  shutil.copytree(reference_run(mod, "train_mlp", **TRAIN), wd)
  (wd / "flags.cfg").write_text("--epochs=1\n")
  with flagsaver.flagsaver(workdir=str(wd), **{**TRAIN, "learning_rate": 0.5}):
    with pytest.raises(SystemExit):
      mod.main(["train_mlp.py"])
  assert ("holds a run made with different settings: --learning_rate (was 0.01, now 0.5). "
          "Rerun with the same flags" in capsys.readouterr().err)
  old = json.loads((wd / "config.json").read_text())
  assert old["repeats"] == 1 and old["cell"] == "elman"
  del old["repeats"], old["cell"]
  (wd / "config.json").write_text(json.dumps(old))
  with flagsaver.flagsaver(workdir=str(wd), **TRAIN):
    mod.main(["train_mlp.py"])
  assert "nothing to do" in (wd / "log.txt").read_text().splitlines()[-1]
  with flagsaver.flagsaver(workdir=str(wd), **{**TRAIN, "repeats": 2}):
    with pytest.raises(SystemExit):
      mod.main(["train_mlp.py"])
  assert "different settings: --repeats (was 1, now 2)." in capsys.readouterr().err


def test_a_moved_workdir_resumes_where_it_was(binary, reference_run, tmp_path):
  """A finished run's workdir, moved elsewhere (here: copied, as the shared reference run
  stays), with its results and one criterion's checkpoints gone, resumes there."""
  mod = binary("prune_mlp")
  shutil.copytree(reference_run(mod, "prune_mlp", **PRUNE), tmp_path / "a")
  whole = (tmp_path / "a" / "results.json").read_bytes()
  os.remove(tmp_path / "a" / "results.json")        # as if stopped before the end
  shutil.rmtree(tmp_path / "a" / "checkpoints" / "magnitude-mean")
  os.rename(tmp_path / "a", tmp_path / "b")
  with flagsaver.flagsaver(workdir=str(tmp_path / "b"), **PRUNE):
    mod.main(["prune_mlp.py"])
  assert (tmp_path / "b" / "results.json").read_bytes() == whole
  assert f"--workdir={tmp_path / 'b'}" in (tmp_path / "b" / "flags.cfg").read_text()


@pytest.mark.slow
def test_ctrl_c_says_where_it_stopped_and_the_same_command_resumes(tmp_path):
  wd = tmp_path / "run"
  cmd = cli("train_mlp", wd, "--epochs=20", "--epochs_per_call=1")
  # SIGINT handled as at a terminal even when the suite itself runs in the background
  # (a shell starts background jobs with SIGINT ignored, and the child would inherit it)
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  for line in proc.stdout:                 # interrupt once a few epochs are checkpointed
    if "epoch 3/20" in line:
      proc.send_signal(signal.SIGINT)
      break
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("interrupted; it stopped after: ") \
      and "Rerun the same command to resume it" in lines[0] and str(wd) in lines[0]
  done = sorted(int(d) for d in os.listdir(wd / "checkpoints" / "train") if d.isdigit())
  assert done and not (wd / "results.json").exists()
  subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
  saved = json.loads((wd / "timing.json").read_text())["checkpoints_saved"]
  assert saved <= 20 - done[-1]             # only what no checkpoint held was trained


def test_sigterm_says_where_it_stopped_like_ctrl_c(capsys, tmp_path):
  from eegjax.run.flags import exit_on_user_error
  wd = Workdir(str(tmp_path / "run"), echo=False)
  wd.log("epoch 3/20")

  @exit_on_user_error
  def main(argv):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)                       # the handler raises before this ends

  with pytest.raises(SystemExit) as stop:
    main(["x"])
  assert stop.value.code == 143
  err = capsys.readouterr().err.strip().splitlines()
  assert err == [f"terminated (SIGTERM); it stopped after: epoch 3/20. Rerun the same "
                 f"command to resume it from its last checkpoint in {wd.path}"]
  assert signal.getsignal(signal.SIGTERM) is not None     # the previous handler is back


def test_a_run_stopped_between_its_results_files_writes_them_all_again(binary, reference_run,
                                                                       tmp_path):
  """results.json is not the last file a run writes: a run killed just after it is not
  finished (its pending mark), and the same command writes every file again."""
  mod = binary("train_mlp")
  wd = tmp_path / "run"
  shutil.copytree(reference_run(mod, "train_mlp", **TRAIN), wd)
  whole = (wd / "results.json").read_bytes()
  for name in ("results.csv", "history.npz", "timing.json"):
    os.remove(wd / name)                       # as if killed just after results.json
  (wd / ".results_pending").write_text("")
  with flagsaver.flagsaver(workdir=str(wd), **TRAIN):
    mod.main(["train_mlp.py"])
  assert (wd / "results.json").read_bytes() == whole
  assert all((wd / n).exists() for n in ("results.csv", "history.npz", "timing.json"))
  assert not (wd / ".results_pending").exists()
  assert "nothing to do" not in (wd / "log.txt").read_text().split("writing them again")[-1]


def test_overwrite_removes_what_runs_wrote_and_keeps_the_users_files(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  (run / "my_data.csv").write_text("f1,label\n1,a\n")     # the user's input, kept
  wd = Workdir(str(run), echo=False)
  wd.log("hello")
  wd.write_json("results.json", {"a": 1})
  wd.write_csv("prune_table.csv", ["x"], [[1]])
  (run / "checkpoints" / "train" / "2").mkdir(parents=True)
  open(wd.file("plot.png"), "wb").close()
  Workdir(str(run), overwrite=True, echo=False)
  assert sorted(p.name for p in run.iterdir()) == [".lock", "my_data.csv"]


def test_a_started_run_whose_config_json_is_gone_or_damaged_is_refused(tmp_path):
  """config.json is the run's one identity record: without it (flags.cfg is only the
  replay) what made the run cannot be checked."""
  wd = Workdir(str(tmp_path / "run"), echo=False)
  cfg = {"model": "mlp", "train": {"epochs": 10}, "workdir": "/old/place"}
  wd.write_json("config.json", cfg)
  wd.write_text("flags.cfg", "--epochs=10\n")
  (tmp_path / "run" / "checkpoints" / "train").mkdir(parents=True)
  wd.check_same_run(identity.of({**cfg, "workdir": "/new/place"}))   # same run: resumes
  (tmp_path / "run" / "config.json").write_text('{"model": "ml')       # cut short
  with pytest.raises(WorkdirError, match=r"config.json cannot be read \(JSONDecodeError"):
    wd.check_same_run(identity.of(cfg))
  os.remove(tmp_path / "run" / "config.json")
  with pytest.raises(WorkdirError, match=r"whose config.json is gone.*put config.json back"):
    wd.check_same_run(identity.of(cfg))


def test_a_workdir_that_cannot_be_written_ends_in_one_line(tmp_path, monkeypatch):
  """Injected (the suite may run as root, who can write a read-only folder): the lock
  file and a results file refused with EACCES."""
  import builtins
  import errno

  real_open = os.open

  def refuse(path, *a, **k):
    if str(path).endswith(".lock"):
      raise PermissionError(errno.EACCES, "Permission denied", path)
    return real_open(path, *a, **k)
  monkeypatch.setattr(os, "open", refuse)
  with pytest.raises(WorkdirError, match=r"--workdir=.*ro: cannot write there \(Permission "
                                         r"denied\)"):
    Workdir(str(tmp_path / "ro"), echo=False)
  monkeypatch.setattr(os, "open", real_open)
  wd = Workdir(str(tmp_path / "ro"), echo=False)
  real_bopen = builtins.open

  def refuse_write(path, mode="r", *a, **k):
    if "w" in mode and str(path).endswith("results.json.tmp"):
      raise PermissionError(errno.EACCES, "Permission denied", path)
    return real_bopen(path, mode, *a, **k)
  monkeypatch.setattr(builtins, "open", refuse_write)
  with pytest.raises(WorkdirError, match=r"cannot write results.json there \(Permission "
                                         r"denied\)"):
    wd.write_json("results.json", {})
