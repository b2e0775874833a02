"""The alcoholism study's autoencoder, trained by the one training program with the
reconstruction objective."""

import chex
import jax
import numpy as np
import pytest

from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.data.features import band_power_features
from eegjax.data.splits import group_kfold
from eegjax.data.synthetic import smni_trials
from eegjax.errors import ConfigError
from eegjax.models.autoencoder import BandAutoencoder
from eegjax.train import TrainConfig, Trainer, carve_validation, device_data, make_fold_arrays


@pytest.mark.parametrize("per_band,code_shape", [(True, (5, 16, 3)), (False, (5, 48))])
def test_shapes(per_band, code_shape):
  ae = BandAutoencoder(per_band=per_band)
  x = jax.random.uniform(jax.random.key(0), (5, 192))
  params = ae.init(jax.random.key(1), x)
  assert ae.apply(params, x).shape == (5, 192)
  codes = ae.apply(params, x, method=BandAutoencoder.encode)
  assert codes.shape == code_shape


def test_per_band_encoder_sees_only_its_band():
  ae = BandAutoencoder()
  x = jax.random.uniform(jax.random.key(0), (4, 192))
  params = ae.init(jax.random.key(1), x)
  moved = x.at[:, 1::3].add(1.0)                         # change alpha only
  a = ae.apply(params, x, method=BandAutoencoder.encode)
  b = ae.apply(params, moved, method=BandAutoencoder.encode)
  chex.assert_trees_all_close(a[..., [0, 2]], b[..., [0, 2]])
  assert not np.allclose(a[..., 1], b[..., 1])


@pytest.fixture(scope="module")
def features():
  trials = smni_trials(0, num_subjects=8, trials_per_subject=6)
  x = np.stack([t.x.T for t in trials])
  power, names = band_power_features(x, 256.0, [f"e{i}" for i in range(64)])
  info = DatasetInfo(name="smni_features", source="test", real=False, feature_names=names)
  groups = np.repeat(np.arange(8), 6)
  ds = make_dataset(np.log10(np.asarray(power)), [t.alcoholic for t in trials],
                    ("control", "alcoholic"), info, groups=groups)
  parts = carve_validation(ds, group_kfold(ds.groups, 4, seed=0), 0.25)
  return make_fold_arrays(ds, parts), device_data(ds)


def test_reconstruction_training_lowers_the_error_on_every_model(features):
  folds, data = features
  cfg = TrainConfig(epochs=30, batch_size=16, learning_rate=0.01, objective="reconstruct",
                    epochs_per_call=10)
  trainer = Trainer(BandAutoencoder(), cfg, has_val=True)
  init = trainer.init([0, 1], folds, data).params
  fit = trainer.fit([0, 1], folds, data, log=lambda m: None)
  for part, factor in (("train", 0.5), ("test", 0.8)):   # test: unseen subjects
    start = trainer.evaluate(init, folds, data, part)["loss"]
    end = trainer.evaluate(fit.params, folds, data, part)["loss"]
    assert start.shape == (4, 2)
    assert (end < factor * start).all(), (part, start, end)
  assert np.isfinite(fit.val_loss).all() and (fit.val_loss[..., -1] < fit.val_loss[..., 0]).all()
  # sharded over two devices: the same models
  two = Trainer(BandAutoencoder(), cfg, has_val=True, num_devices=2)
  fit2 = two.fit([0, 1], folds, data, log=lambda m: None)
  chex.assert_trees_all_close(fit.params, fit2.params, atol=1e-5)


def test_unknown_objective_is_a_config_error():
  with pytest.raises(ConfigError, match="objective 'regress'"):
    TrainConfig(epochs=1, objective="regress")
