import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eegjax.data.splits import group_kfold
from eegjax.data.synthetic import music_features
from eegjax.models import MLP, ElmanRNN
from eegjax.train import (TrainConfig, Trainer, TrainingDiverged, carve_validation,
                          device_data, make_fold_arrays)
from eegjax.train.step import train_step
from eegjax.train.folds import fold_subset


@pytest.fixture(scope="module")
def study():
  ds = music_features(0, num_participants=8)        # 192 x 25, 8 participants
  parts = carve_validation(ds, group_kfold(ds.groups, 4, seed=0), 0.0)
  return make_fold_arrays(ds, parts), device_data(ds)


def test_jit_and_no_jit_train_steps_agree():
  model = MLP((6,), 3)
  x = jax.random.normal(jax.random.key(0), (8, 5))
  y = jnp.array([0, 1, 2, 0, 1, 2, 0, 1])
  w = jnp.array([1, 1, 1, 1, 1, 1, 0, 0], jnp.float32)
  params = model.init(jax.random.key(1), x)
  tx = optax.adam(0.01)
  opt = tx.init(params)
  step = lambda p, o: train_step(model, tx, p, o, x, y, w)  # noqa: E731
  jitted = jax.jit(step)(params, opt)
  with jax.disable_jit():
    eager = step(params, opt)
  chex.assert_trees_all_close(jitted, eager, atol=1e-6)
  # padding rows are ignored: same step as on the 6 real rows alone (jitted: one program
  # in place of an eager op-by-op step)
  on = jax.jit(lambda p, o, xb, yb, wb: train_step(model, tx, p, o, xb, yb, wb))
  alone = on(params, opt, x[:6], y[:6], jnp.ones(6))
  chex.assert_trees_all_close(jitted, alone, atol=1e-6)
  # a batch of padding only changes nothing
  p2, o2, _ = on(params, opt, x, y, jnp.zeros(8))
  chex.assert_trees_all_close((p2, o2), (params, opt))


def test_vmapped_sweep_equals_one_model_alone(study):
  folds, data = study
  trainer = Trainer(MLP((8,), 3), TrainConfig(epochs=6, batch_size=16, learning_rate=0.01,
                                              epochs_per_call=3), has_val=False)
  full = trainer.fit([3, 4], folds, data, log=lambda m: None)
  alone = trainer.fit([4], fold_subset(folds, [2]), data, log=lambda m: None)
  chex.assert_trees_all_close(jax.tree.map(lambda a: a[2, 1], full.params),
                              jax.tree.map(lambda a: a[0, 0], alone.params), atol=1e-5)
  np.testing.assert_allclose(full.train_loss[2, 1], alone.train_loss[0, 0], rtol=1e-5)
  # different seeds and folds really differ
  assert not np.allclose(full.train_loss[2, 0], full.train_loss[2, 1])
  assert full.train_loss.shape == (4, 2, 6)


def test_blocks_do_not_change_the_result(study):
  folds, data = study
  cfg = dict(epochs=6, batch_size=16, learning_rate=0.01)
  a = Trainer(MLP((8,), 3), TrainConfig(**cfg, epochs_per_call=6), False)
  b = Trainer(MLP((8,), 3), TrainConfig(**cfg, epochs_per_call=4), False)   # 4 + 2
  ra = a.fit([0], folds, data, log=lambda m: None)
  rb = b.fit([0], folds, data, log=lambda m: None)
  chex.assert_trees_all_close(ra.params, rb.params, atol=1e-6)


def test_a_resumed_run_only_traces_its_initial_state(study, tmp_path, monkeypatch):
  """Resuming, the initial state is only the restore's template (traced, not compiled
  and run); when every checkpoint is unreadable the run starts from a real initial state
  and ends where an uninterrupted run does."""
  from eegjax.run.checkpoints import Checkpoints
  folds, data = study
  cfg = TrainConfig(epochs=6, batch_size=16, learning_rate=0.01, epochs_per_call=4)
  full = Trainer(MLP((8,), 3), cfg, False).fit([0], folds, data, log=lambda m: None,
                                               checkpoints=Checkpoints(str(tmp_path / "ck")))
  ck = Checkpoints(str(tmp_path / "ck"))
  assert ck.steps() == [4, 6]
  ck.delete(6)                        # as if stopped after the block that ends at epoch 4
  ck.close()
  traced = []
  trainer = Trainer(MLP((8,), 3), cfg, False)
  real_init = trainer.init

  def spy(*args, **kw):
    out = real_init(*args, **kw)
    traced.append(isinstance(jax.tree.leaves(out)[0], jax.core.Tracer))
    return out

  monkeypatch.setattr(trainer, "init", spy)
  resumed = trainer.fit([0], folds, data, log=lambda m: None,
                        checkpoints=Checkpoints(str(tmp_path / "ck")))
  assert traced == [True]
  chex.assert_trees_all_close(resumed.params, full.params, atol=1e-6)
  for root, _, files in os.walk(tmp_path / "ck"):       # every checkpoint unreadable
    for name in files:
      if name != "_CHECKPOINT_METADATA":
        open(os.path.join(root, name), "wb").close()
  traced.clear()
  again = trainer.fit([0], folds, data, log=lambda m: None,
                      checkpoints=Checkpoints(str(tmp_path / "ck")))
  assert traced == [True, False]
  chex.assert_trees_all_close(again.params, full.params, atol=1e-6)
  np.testing.assert_allclose(again.train_loss, full.train_loss, rtol=1e-6)


def test_training_learns_and_evaluates(study):
  folds, data = study
  trainer = Trainer(MLP((16,), 3), TrainConfig(epochs=40, batch_size=16, learning_rate=0.02),
                    has_val=False)
  res = trainer.fit([0], folds, data, log=lambda m: None)
  assert np.all(res.train_loss[..., -1] < res.train_loss[..., 0])
  train_m = trainer.evaluate(res.params, folds, data, "train")
  assert train_m["accuracy"].mean() > 0.8
  test_m = trainer.evaluate(res.params, folds, data, "test")
  n_test = folds.test_w.sum(axis=1)
  np.testing.assert_allclose(test_m["confusion"].sum(axis=(-1, -2))[:, 0], n_test)


def test_early_stopping_keeps_best_epoch():
  ds = music_features(0, num_participants=8)
  parts = carve_validation(ds, group_kfold(ds.groups, 4, seed=0), 0.3, seed=0)
  folds, data = make_fold_arrays(ds, parts), device_data(ds)
  trainer = Trainer(MLP((16,), 3), TrainConfig(epochs=60, batch_size=16, learning_rate=0.05,
                                               patience=5), has_val=True)
  res = trainer.fit([0], folds, data, log=lambda m: None)
  best = np.asarray(res.state.best_epoch)
  val = res.val_loss
  for f in range(4):
    ran = np.isfinite(val[f, 0])
    assert val[f, 0, best[f, 0]] == np.nanmin(val[f, 0])
    if not ran.all():                          # stopped: exactly patience epochs after best
      assert ran.sum() == best[f, 0] + 1 + 5
  assert not np.isfinite(val).all()            # overfitting models do stop
  val_m = trainer.evaluate(res.params, folds, data, "val")
  np.testing.assert_allclose(val_m["loss"][:, 0], val[np.arange(4), 0, best[:, 0]], rtol=1e-5)


def test_divergence_names_seed_fold_epoch(study):
  folds, (x, y, lengths) = study
  bad_row = int(folds.train_idx[1, 0])
  x = x.at[bad_row, 0].set(jnp.nan)                 # bypasses the loaders' validation
  bad_folds = folds._replace(lo=np.zeros_like(folds.lo), scale=np.ones_like(folds.scale))
  trainer = Trainer(MLP((4,), 3), TrainConfig(epochs=4, batch_size=16, learning_rate=0.01,
                                              epochs_per_call=2), has_val=False)
  with pytest.raises(TrainingDiverged, match=r"seed 7, fold \d, epoch 1;") as info:
    trainer.fit([7], bad_folds, (x, y, lengths), log=lambda m: None)
  assert info.value.epochs_done == 0


def test_rnn_trains_on_padded_sequences():
  rng = np.random.default_rng(0)
  n, steps = 24, 30
  y = np.arange(n) % 2
  x = rng.normal(size=(n, steps, 1)).astype(np.float32) + y[:, None, None]
  lengths = rng.integers(10, steps + 1, n).astype(np.int32)
  from eegjax.data.dataset import DatasetInfo, make_dataset
  ds = make_dataset(x, y, ("a", "b"), DatasetInfo("toy", "test", False), lengths=lengths)
  from eegjax.data.splits import stratified_kfold
  folds = make_fold_arrays(ds, carve_validation(ds, stratified_kfold(ds.y, 3), 0.0))
  trainer = Trainer(ElmanRNN(8, 2), TrainConfig(epochs=15, batch_size=8, learning_rate=0.02),
                    has_val=False)
  res = trainer.fit([0, 1], folds, device_data(ds), log=lambda m: None)
  assert res.train_loss.shape == (3, 2, 15)
  assert np.all(res.train_loss[..., -1] < res.train_loss[..., 0])


@pytest.mark.parametrize("n,real", [(40, 37), (5000, 4990)])   # packed keys; pair sort
def test_shuffle_puts_a_permutation_of_real_rows_first(n, real):
  from eegjax.train.step import shuffle_order
  mask = jnp.arange(n) < real
  orders = jax.vmap(lambda k: shuffle_order(k, mask))(jax.random.split(jax.random.key(0), 400))
  orders = np.asarray(orders)
  for o in orders[:20]:
    assert sorted(o[:real]) == list(range(real))
    assert list(o[real:]) == list(range(real, n))
  # every real row is about equally likely to come first (400 draws)
  first = np.bincount(orders[:, 0], minlength=real)
  assert first[real:].sum() == 0
  if n < 100:   # chi-square against uniform, 36 degrees of freedom; p > 1e-4
    chi2 = ((first - 400 / real) ** 2 / (400 / real)).sum()
    assert chi2 < 80, chi2
  assert len({tuple(o) for o in orders}) == len(orders)   # no two epochs alike
