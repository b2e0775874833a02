"""Training the EEG conv networks through the one driver: BatchNorm's running statistics
updated in training and used in evaluation, dropout keys drawn per batch, EEGNet's
max-norm constraints after every update, the loop layout (CPU) training the same models
as the vmapped one, and the train_cnn binary on a user's file."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import flagsaver

from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.data.splits import stratified_kfold
from eegjax.models.eegconv import EEGNet, ShallowConvNet
from eegjax.train import TrainConfig, Trainer, carve_validation, device_data, make_fold_arrays
from eegjax.train.step import train_step, trains_in_mode


def _toy(n=24, steps=32, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  y = np.arange(n) % 2
  t = np.arange(steps)
  x = rng.normal(size=(n, steps, channels)) * 0.5
  x[:, :, 0] += np.where(y[:, None] == 1, np.sin(t / 2.0), np.cos(t / 3.0))
  return make_dataset(x.astype(np.float32), y, ("a", "b"), DatasetInfo("toy", "test", False))


TINY = EEGNet(num_classes=2, f1=2, d=2, kernel_length=4, separable_length=4, pool_1=2,
              pool_2=2, channels_last=True)


@pytest.fixture(scope="module")
def toy():
  ds = _toy()
  folds = make_fold_arrays(ds, carve_validation(ds, stratified_kfold(ds.y, 2), 0.0))
  return folds, device_data(ds)


def test_conv_nets_train_in_mode_and_others_do_not():
  from eegjax.models import MLP
  assert trains_in_mode(TINY) and trains_in_mode(ShallowConvNet(num_classes=2))
  assert not trains_in_mode(MLP((4,), 2))


def test_loop_and_vmap_layouts_train_the_same_models(toy):
  folds, data = toy
  cfg = TrainConfig(epochs=3, batch_size=8, learning_rate=0.01, epochs_per_call=3)
  runs = {layout: Trainer(TINY, cfg, has_val=False, layout=layout).fit(
      [0, 1], folds, data, log=lambda m: None) for layout in ("loop", "vmap")}
  # bn_0's offset and scale pass through the linear depthwise conv into bn_1, which
  # removes both in training: their gradients are zero but for float rounding, which
  # differs between the layouts and which Adam scales up to steps; bn_1's running
  # statistics follow them. Every other leaf must agree.
  def drop_free(p):
    p = jax.tree.map(lambda a: a, p)
    del p["params"]["bn_0"], p["batch_stats"]["bn_1"]
    return p
  chex.assert_trees_all_close(drop_free(runs["loop"].params), drop_free(runs["vmap"].params),
                              atol=2e-5)
  np.testing.assert_allclose(runs["loop"].train_loss, runs["vmap"].train_loss, rtol=1e-5)
  assert runs["loop"].train_loss.shape == (2, 2, 3)
  # the seeds' models differ (dropout and initial weights are drawn per seed)
  p = runs["loop"].params["params"]["conv_time"]["kernel"]
  assert not np.allclose(p[0, 0], p[0, 1])


def test_training_updates_running_statistics_and_keeps_the_max_norms(toy):
  folds, data = toy
  trainer = Trainer(TINY, TrainConfig(epochs=4, batch_size=8, learning_rate=0.2),
                    has_val=False, layout="loop")
  init = trainer.init([0], folds, data)
  fit = trainer.fit([0], folds, data, log=lambda m: None)
  before, after = init.params["batch_stats"], fit.params["batch_stats"]
  for name in ("bn_0", "bn_1", "bn_2"):       # running statistics moved from (0, 1)
    assert not np.allclose(before[name]["mean"], after[name]["mean"])
    assert not np.allclose(before[name]["var"], after[name]["var"])
  for name, bound in TINY.max_norms.items():
    k = np.asarray(fit.params["params"][name]["kernel"])
    norms = np.sqrt((k.reshape(k.shape[:2] + (-1, k.shape[-1])) ** 2).sum(axis=2))
    assert norms.max() <= bound * (1 + 1e-5), name
    # at this learning rate the bound is reached: the constraint acted
    assert norms.max() >= bound * 0.99, name
  # evaluation uses the running statistics: deterministic
  one = jax.tree.map(lambda a: a[0, 0], fit.params)
  x = data[0][:6]
  np.testing.assert_array_equal(TINY.apply(one, x), TINY.apply(one, x))


def test_a_training_step_draws_dropout_from_its_key():
  model = ShallowConvNet(num_classes=2, filter_time_length=4, pool_time_length=4,
                         pool_time_stride=2, n_filters_time=3, n_filters_spat=3,
                         channels_last=True)
  x = jnp.asarray(_toy(8, 16, 2).x)
  y = jnp.arange(8) % 2
  params = model.init(jax.random.key(0), x)
  tx = optax.adam(0.01)
  opt = tx.init(params)
  w = jnp.ones(8)
  step = jax.jit(lambda k: train_step(model, tx, params, opt, x, y, w,
                                      rng=jax.random.key(k)))
  a, b, c = step(1), step(1), step(2)
  chex.assert_trees_all_close(a, b)
  assert float(a[2]) != float(c[2])           # another dropout mask, another loss
  # the running statistics come from the batch, not from the gradient
  assert not np.allclose(a[0]["batch_stats"]["bn"]["mean"],
                         params["batch_stats"]["bn"]["mean"])


def test_train_cnn_main_cuts_unequal_trials_and_records_the_network(binary, tmp_path):
  rng = np.random.default_rng(0)
  n = 32
  x = rng.normal(size=(n, 44, 3)).astype(np.float32)
  lengths = np.full(n, 44, np.int32)
  lengths[::5] = 40
  np.savez(tmp_path / "trials.npz", x=x, y=np.arange(n) % 2, lengths=lengths,
           sampling_rate=32.0, real=False)
  mod = binary("train_cnn")
  wd = tmp_path / "run"
  with flagsaver.flagsaver(data_path=str(tmp_path / "trials.npz"), model="eegnet", epochs=2,
                           num_folds=2, num_seeds=1, workdir=str(wd)):
    mod.main(["train_cnn.py"])
  res = json.loads((wd / "results.json").read_text())
  assert res["study"] == "train_cnn" and res["dataset"]["data"] == "synthetic"
  assert "cut to the shortest trial's 40 samples" in res["dataset"]["inputs"]
  m = res["model"]
  assert m["family"] == "cnn" and m["network"] == "eegnet"
  args = m["spec"]["args"]
  # the paper's 64-sample kernel at 128 Hz is half a second: 16 samples at 32 Hz
  assert args["kernel_length"] == 16 and args["separable_length"] == 4
  f1, d = args["f1"], args["d"]
  assert m["num_params"] == (16 * f1 + 2 * f1 + 3 * f1 * d + 2 * f1 * d + 4 * f1 * d
                             + f1 * d * f1 * d + 2 * f1 * d + f1 * d * (40 // 4 // 8) * 2 + 2)
  assert m["num_batch_stats"] == 2 * (f1 + 2 * f1 * d)
  assert "--model=eegnet" in (wd / "flags.cfg").read_text()
  with flagsaver.flagsaver(data_path=str(tmp_path / "trials.npz"), model="resnet",
                           workdir=str(tmp_path / "bad")):
    with pytest.raises(SystemExit):
      mod.main(["train_cnn.py"])
