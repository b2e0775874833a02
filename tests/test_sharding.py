"""The (folds, seeds) models spread over devices give the results of one device.

conftest.py starts JAX with two CPU host devices; the subprocess test uses four, the
issue's check (XLA_FLAGS=--xla_force_host_platform_device_count=4)."""

import json
import os
import re
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from conftest import assert_json_close
from eegjax.data.splits import group_kfold
from eegjax.data.synthetic import music_features, music_sequences
from eegjax.errors import ConfigError
from eegjax.models import MLP, ElmanRNN
from eegjax.train import TrainConfig, Trainer, carve_validation, device_data, make_fold_arrays
from eegjax.train.sharding import plan, setup_devices

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_devices(n):
  return list(range(n))   # plan() only arranges them; no computation


@pytest.mark.parametrize("folds,seeds,n,grid,padded", [
    (10, 10, 2, (2, 1), (10, 10)),    # the study sweep: folds over 2, nothing padded
    (5, 1, 2, (2, 1), (6, 1)),        # 5 folds on 2 devices: one copy of fold 4
    (1, 1, 2, None, (1, 1)),          # one model: no mesh at all
    (3, 4, 4, (1, 4), (3, 4)),        # seeds divide evenly, folds do not
    (10, 10, 4, (2, 2), (10, 10)),
    (4, 1, 8, (4, 1), (4, 1)),        # never more devices than models
])
def test_plan_balances_and_pads_least(folds, seeds, n, grid, padded, monkeypatch):
  import eegjax.train.sharding as sh
  monkeypatch.setattr(sh, "Mesh", lambda devs, names: type(
      "M", (), {"devices": np.asarray(devs), "axis_names": names})())
  layout = plan(folds, seeds, n, devices=fake_devices(n))
  if grid is None:
    assert layout.mesh is None
  else:
    assert layout.mesh.devices.shape == grid
  assert (layout.padded_folds, layout.padded_seeds) == padded


def test_setup_devices_refuses_more_than_there_are():
  assert setup_devices(0) == len(jax.devices())
  with pytest.raises(ConfigError, match="--num_devices=64"):
    setup_devices(64)
  with pytest.raises(ConfigError, match="--num_devices=-1"):
    setup_devices(-1)


def _fit(model, folds, data, num_devices, seeds=(0,), epochs=8, **cfg):
  trainer = Trainer(model, TrainConfig(epochs=epochs, batch_size=16, learning_rate=0.02,
                                       epochs_per_call=4, **cfg),
                    has_val=bool(np.asarray(folds.val_w).any()), num_devices=num_devices)
  fit = trainer.fit(list(seeds), folds, data, log=lambda m: None)
  return fit, trainer.evaluate(fit.params, folds, data)


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_two_devices_equal_one_mlp(seeds):
  assert len(jax.devices()) >= 2
  ds = music_features(0, num_participants=6)
  parts = carve_validation(ds, group_kfold(ds.groups, 3, seed=0), 0.25)  # 3 folds: padded
  folds, data = make_fold_arrays(ds, parts), device_data(ds)
  one, m1 = _fit(MLP((8,), 3), folds, data, 1, seeds, patience=3)
  two, m2 = _fit(MLP((8,), 3), folds, data, 2, seeds, patience=3)
  chex.assert_trees_all_close(one.state, two.state, atol=1e-6)
  np.testing.assert_allclose(one.train_loss, two.train_loss, atol=1e-6)
  np.testing.assert_allclose(one.val_loss, two.val_loss, atol=1e-6)
  chex.assert_trees_all_close(m1, m2, atol=1e-6)


def test_two_devices_equal_one_rnn():
  ds = music_sequences(0, num_participants=4, per_class=2, min_length=60, max_length=90)
  parts = carve_validation(ds, group_kfold(ds.groups, 3, seed=0), 0.0)
  folds, data = make_fold_arrays(ds, parts), device_data(ds)
  one, m1 = _fit(ElmanRNN(6, 3), folds, data, 1, epochs=4)
  two, m2 = _fit(ElmanRNN(6, 3), folds, data, 2, epochs=4)
  chex.assert_trees_all_close(one.state, two.state, atol=1e-6)
  chex.assert_trees_all_close(m1, m2, atol=1e-6)


@pytest.mark.slow
def test_four_host_devices_give_one_devices_results(tmp_path):
  """train_mlp.py on 4 XLA host devices (--num_devices=4) writes the results.json of a
  one-device run (to float rounding)."""
  def run(n, name):
    # the session's compile-speed XLA flags (conftest) stay; four host devices are added
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=(
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"))
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "experiments", "train_mlp.py"),
         "--dataset=music_features", "--epochs=10", "--num_folds=5", "--num_seeds=2",
         "--hidden_sizes=8", "--split=group", f"--num_devices={n}",
         f"--workdir={tmp_path / name}"], env=env, capture_output=True, text=True,
        timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stderr + out.stdout
  log4 = run(4, "four")
  run(1, "one")
  assert "models spread over 4 cpu devices" in log4
  one = json.loads((tmp_path / "one" / "results.json").read_text())
  four = json.loads((tmp_path / "four" / "results.json").read_text())
  # Equal to float rounding, not bit for bit: XLA compiles the per-device program for
  # another number of models and may sum in another order. Accuracies (counts of correct
  # predictions) come out identical.
  assert_json_close(one, four, "results")
  assert [r["test"]["accuracy"] for r in one["runs"]] == \
      [r["test"]["accuracy"] for r in four["runs"]]
  timing = json.loads((tmp_path / "four" / "timing.json").read_text())
  assert timing["num_devices"] == 4


@pytest.mark.slow
def test_two_processes_give_one_processs_results(tmp_path):
  """Multi-host through jax.distributed.initialize, tried as two CPU processes on this
  machine: process 0 writes the run's workdir and its results equal a one-process run's;
  process 1 writes its own copy under workdir/process_1."""
  import socket
  with socket.socket() as s:
    s.bind(("localhost", 0))
    port = s.getsockname()[1]
  common = [sys.executable, os.path.join(REPO, "experiments", "train_mlp.py"),
            "--dataset=music_features", "--epochs=12", "--num_folds=3", "--num_seeds=2",
            "--hidden_sizes=8", "--split=group"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")     # (the session's compile-speed XLA flags)
  procs = [subprocess.Popen(common + [f"--workdir={tmp_path / 'multi'}",
                                      f"--coordinator_address=localhost:{port}",
                                      "--num_processes=2", f"--process_id={i}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True) for i in range(2)]
  logs = [p.communicate(timeout=240)[0] for p in procs]
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  single = subprocess.run(common + [f"--workdir={tmp_path / 'single'}", "--num_devices=1"],
                          env=env, capture_output=True, text=True, timeout=240)
  assert single.returncode == 0, single.stderr[-2000:]
  # each process brings one CPU device per core; the models spread over all of them
  assert re.search(r"models spread over [2-9] cpu devices", logs[0]), logs[0][:3000]
  multi = json.loads((tmp_path / "multi" / "results.json").read_text())
  other = json.loads((tmp_path / "multi" / "process_1" / "results.json").read_text())
  one = json.loads((tmp_path / "single" / "results.json").read_text())
  assert_json_close(one, multi, "results")
  assert multi == other
