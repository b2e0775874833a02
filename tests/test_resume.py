"""Reliability: a run killed with SIGKILL (one real process kill) or interrupted in process,
rerun with the same command, ends with the same results.json as an uninterrupted run,
redoing at most one block (or pruning step); an
unreadable newest checkpoint falls back to the previous one; the same command twice gives
byte-identical results."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from absl.testing import flagsaver

from conftest import REPO, TRAIN_MLP, TRAIN_RNN
from eegjax.run.checkpoints import Checkpoints


def command(binary, workdir, args):
  return [sys.executable, str(REPO / "experiments" / f"{binary}.py"), *args,
          f"--workdir={workdir}"]


def steps_in(folder):
  if not os.path.isdir(folder):
    return []
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit())


def run_killed(cmd, ready, timeout=600):
  """Starts cmd, SIGKILLs it as soon as ready() holds; returns whether it was killed. The
  timeout only ends a run that never gets ready: generous, for a loaded machine."""
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  t0 = time.time()
  while proc.poll() is None and time.time() - t0 < timeout:
    if ready():
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      return proc.returncode == -signal.SIGKILL
    time.sleep(0.01)
  proc.wait()
  return False


def test_train_mlp_interrupted_then_resumed_matches_uninterrupted(binary, tmp_path,
                                                                 interrupt_after_save,
                                                                 reference_run):
  """Stopped (in process) just after the checkpoint of epoch 2 (of 4, blocks of 2), rerun:
  the same results.json and histories as the uninterrupted reference run, only the block
  after epoch 2 trained."""
  mod = binary("train_mlp")
  full, cut = reference_run(mod, "train_mlp", **TRAIN_MLP), tmp_path / "cut"
  interrupt_after_save(lambda directory, step: step == 2)
  with flagsaver.flagsaver(workdir=str(cut), **TRAIN_MLP), pytest.raises(SystemExit) as stop:
    mod.main(["train_mlp.py"])
  assert stop.value.code == 130 and not (cut / "results.json").exists()
  assert steps_in(cut / "checkpoints" / "train") == [2]
  with flagsaver.flagsaver(workdir=str(cut), **TRAIN_MLP):
    mod.main(["train_mlp.py"])
  # the rerun trained only what no checkpoint held: the one block after epoch 2
  assert json.loads((cut / "timing.json").read_text())["checkpoints_saved"] == 1
  assert (cut / "results.json").read_bytes() == (full / "results.json").read_bytes()
  a, b = np.load(full / "history.npz"), np.load(cut / "history.npz")
  np.testing.assert_array_equal(a["train_loss"], b["train_loss"])


PRUNE_ARGS = ["--dataset=music_features", "--epochs=10", "--num_folds=3", "--num_seeds=2",
              "--hidden_sizes=8", "--split=group", "--max_pruned=4", "--beyond_thresholds",
              "--criteria=distinctiveness,magnitude,random"]


@pytest.mark.slow
def test_prune_mlp_killed_then_resumed_matches_uninterrupted(tmp_path):
  full, cut = tmp_path / "full", tmp_path / "cut"
  subprocess.run(command("prune_mlp", full, PRUNE_ARGS), cwd=REPO, check=True,
                 capture_output=True)
  killed = run_killed(command("prune_mlp", cut, PRUNE_ARGS),
                      lambda: steps_in(cut / "checkpoints" / "magnitude-mean") != [])
  assert killed, "the run finished before it could be killed"
  before = checkpoint_stamps(cut / "checkpoints")
  subprocess.run(command("prune_mlp", cut, PRUNE_ARGS), cwd=REPO, check=True,
                 capture_output=True)
  after = checkpoint_stamps(cut / "checkpoints")
  # nothing a checkpoint held was recomputed: every checkpoint written before the kill is
  # still the same file, and the run went on. A curve this short is one block: its sizes
  # 0, 2 and 4 in one checkpoint, numbered by the last
  assert {k: after[k] for k in before} == before
  assert [k for k in before if k[0] == "distinctiveness-mean"] == [("distinctiveness-mean", 4)]
  assert len(after) > len(before)
  assert (cut / "results.json").read_bytes() == (full / "results.json").read_bytes()


def checkpoint_stamps(folder):
  """{(criterion, step): (inode, mtime)} of every finished pruning checkpoint."""
  out = {}
  for crit in sorted(os.listdir(folder)):
    for step in steps_in(folder / crit):
      st = os.stat(folder / crit / str(step))
      out[(crit, step)] = (st.st_ino, st.st_mtime_ns)
  return {k: v for k, v in out.items() if k[0] != "train"}


def test_unreadable_newest_checkpoint_falls_back(tmp_path):
  messages = []
  ck = Checkpoints(str(tmp_path / "ck"), log=messages.append)
  for step in (10, 20):
    ck.save(step, {"w": np.full((3, 4), float(step), np.float32)}, {"epochs_done": step})
  ck.close()
  for root, _, files in os.walk(tmp_path / "ck" / "20"):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  ck = Checkpoints(str(tmp_path / "ck"), log=messages.append)
  step, arrays, meta = ck.restore_latest({"w": np.zeros((3, 4), np.float32)})
  assert step == 10 and meta == {"epochs_done": 10}
  np.testing.assert_array_equal(arrays["w"], 10.0)
  assert any("checkpoint 20" in m and "unreadable" in m for m in messages)
  # the run goes on from 10 and saves 20 again: the damaged folder must not be in its way
  ck.save(20, {"w": np.full((3, 4), 21.0, np.float32)}, {"epochs_done": 20})
  ck.close()
  step, arrays, _ = Checkpoints(str(tmp_path / "ck")).restore_latest(
      {"w": np.zeros((3, 4), np.float32)})
  assert step == 20 and float(arrays["w"][0, 0]) == 21.0


def test_a_save_that_fails_ends_in_one_line_naming_the_checkpoint(tmp_path, monkeypatch):
  """Not a full disk (a folder that cannot be written): one CheckpointError naming the
  step, the cause and what is intact, with orbax's writer-thread errors held back; no
  hang (the earlier replay of those errors re-added them to the list it looped over)."""
  import logging

  import pytest

  from eegjax.errors import UserError
  ck = Checkpoints(str(tmp_path / "ck"))
  ck.save(1, {"w": np.ones(3, np.float32)}, {})

  def fail(*args, **kwargs):
    # what orbax does when its writer threads fail: log from its own modules, then raise
    record = logging.LogRecord("orbax", logging.ERROR, "/site-packages/orbax/x.py", 1,
                               "writer thread failed", None, None)
    logging.getLogger().handle(record)
    raise PermissionError(13, "Permission denied", str(tmp_path / "ck" / "2"))
  monkeypatch.setattr(ck.manager, "save", fail)
  with pytest.raises(UserError, match=r"could not save checkpoint 2 in .*ck \(\[Errno 13\] "
                                      r"Permission denied.*\); the last good checkpoint "
                                      r"\(1\) is intact"):
    ck.save(2, {"w": np.ones(3, np.float32)}, {})
  assert not any(type(f).__name__ == "_OrbaxThreadErrors"
                 for f in logging.getLogger().filters)


def test_a_write_that_fails_after_a_save_without_waiting_names_its_checkpoint(tmp_path,
                                                                             monkeypatch):
  """save(wait=False) leaves the writing to orbax's thread (the pruning sweep's blocks):
  when that write fails, the next save, or close, ends in the one-line error naming the
  checkpoint that failed (not the one being saved), and the last good one is intact."""
  import pytest

  from eegjax.run.workdir import DiskFull
  for then in ("save", "close"):
    ck = Checkpoints(str(tmp_path / then))
    ck.save(1, {"w": np.ones(3, np.float32)}, {})
    ck.save(2, {"w": np.full(3, 2.0, np.float32)}, {}, wait=False)
    assert ck.pending == 2
    real_wait = ck.manager.wait_until_finished

    def wait():
      real_wait()          # the write ends, then reports what the device said
      raise OSError(28, "No space left on device")
    monkeypatch.setattr(ck.manager, "wait_until_finished", wait)
    with pytest.raises(DiskFull, match=r"while saving checkpoint 2 in .*; the last good "
                                       r"checkpoint \(1\) is intact"):
      if then == "save":
        ck.save(3, {"w": np.ones(3, np.float32)}, {})
      else:
        ck.close()
  ck = Checkpoints(str(tmp_path / "close"))      # saved without waiting, then closed:
  ck.save(5, {"w": np.full(3, 5.0, np.float32)}, {"n": 5}, wait=False)
  ck.close()                                     # durable
  step, arrays, meta = Checkpoints(str(tmp_path / "close")).restore_latest()
  assert step == 5 and meta == {"n": 5} and float(arrays["w"][0]) == 5.0


def test_same_command_twice_gives_identical_results(binary, tmp_path, reference_run):
  """The same command as the shared reference run, in another workdir: byte-identical."""
  mod = binary("train_rnn")
  first = reference_run(mod, "train_rnn", **TRAIN_RNN)
  with flagsaver.flagsaver(workdir=str(tmp_path / "again"), **TRAIN_RNN):
    mod.main(["train_rnn.py"])
  assert ((tmp_path / "again" / "results.json").read_bytes()
          == (first / "results.json").read_bytes())


def test_divergence_after_resume_keeps_the_last_good_checkpoint(tmp_path):
  import shutil

  import jax.numpy as jnp
  import pytest

  from eegjax.data import DataSpec
  from eegjax.studies.common import classifier as framework
  from eegjax.studies.common.classifier import ClassifyConfig
  from eegjax.run.workdir import Workdir
  from eegjax.train import TrainConfig, TrainingDiverged

  cfg = ClassifyConfig(model="mlp", data=DataSpec(dataset="music_features"),
                       train=TrainConfig(epochs=6, epochs_per_call=2), workdir=str(tmp_path),
                       hidden_sizes=(4,), num_folds=3)
  wd = Workdir(str(tmp_path), echo=False)
  prep = framework.prepare(cfg, wd)
  framework.train(cfg, prep, wd)
  ckpts = tmp_path / "checkpoints" / "train"
  shutil.rmtree(ckpts / "6")                        # as if killed after epoch 4
  x, y, lengths = prep.data
  prep.data = (x.at[int(prep.folds.train_idx[2, 0])].set(jnp.nan), y, lengths)
  with pytest.raises(TrainingDiverged,
                     match=r"seed 0, fold \d, epoch 5;.*last good checkpoint \(epoch 4\) is "
                           r"kept in .*checkpoints/train"):
    framework.train(cfg, prep, wd)
  assert steps_in(ckpts) == [2, 4]                 # nothing good was lost or overwritten
