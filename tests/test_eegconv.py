"""The EEG convolutional networks (eegjax.models.eegconv): shapes and parameter counts
computed by hand from the papers' layers, BatchNorm's running statistics, dropout only in
training, EEGNet's grouped (depthwise) spatial filters, and the max-norm constraint."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax.models import count_params
from eegjax.models.eegconv import MAX_NORMS, Deep4, EEGNet, ShallowConvNet, apply_max_norm

KEY = jax.random.key(0)


def _init(model, shape):
  x = jax.random.normal(KEY, shape)
  variables = model.init({"params": KEY, "dropout": KEY}, x)
  return x, variables


def _shallow_count(c, t, k):
  pooled = (t - 25 + 1 - 75) // 15 + 1
  return (25 * 40 + 40) + c * 40 * 40 + 2 * 40 + pooled * 40 * k + k


def _deep4_count(c, t, k):
  n = t - 10 + 1
  n //= 3
  for _ in range(3):
    n = (n - 10 + 1) // 3
  return ((10 * 25 + 25) + c * 25 * 25 + 2 * 25 + 10 * 25 * 50 + 2 * 50 + 10 * 50 * 100
          + 2 * 100 + 10 * 100 * 200 + 2 * 200 + n * 200 * k + k)


def _eegnet_count(c, t, k):
  return (64 * 8 + 2 * 8 + c * 16 + 2 * 16 + 16 * 16 + 16 * 16 + 2 * 16
          + 16 * (t // 4 // 8) * k + k)


@pytest.mark.parametrize("model,shape,count", [
    (ShallowConvNet(num_classes=4), (3, 22, 1125), _shallow_count(22, 1125, 4)),
    (Deep4(num_classes=4), (3, 22, 1125), _deep4_count(22, 1125, 4)),
    (EEGNet(num_classes=4), (3, 64, 128), _eegnet_count(64, 128, 4)),
    (ShallowConvNet(num_classes=2), (2, 6, 896), _shallow_count(6, 896, 2)),
    (EEGNet(num_classes=2), (2, 6, 896), _eegnet_count(6, 896, 2)),
], ids=["shallow", "deep4", "eegnet", "shallow_scp1", "eegnet_scp1"])
def test_shapes_and_parameter_counts_follow_the_papers_layers(model, shape, count):
  x = jax.ShapeDtypeStruct(shape, jnp.float32)      # shapes only: traced, not computed
  variables = jax.eval_shape(lambda x: model.init({"params": KEY, "dropout": KEY}, x), x)
  assert sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables["params"])) == count
  logits = jax.eval_shape(model.apply, variables, x)
  assert logits.shape == (shape[0], model.num_classes)
  # running statistics: a mean and a variance per normalised channel
  stats = jax.tree.leaves(variables["batch_stats"])
  assert stats and all(s.ndim == 1 for s in stats)


@pytest.mark.parametrize("model", [ShallowConvNet(num_classes=2, pool_time_length=10,
                                                  pool_time_stride=5),
                                   Deep4(num_classes=2, n_filters=(4, 4, 4, 4),
                                         filter_length=3, pool_length=2),
                                   EEGNet(num_classes=2, kernel_length=8)],
                         ids=["shallow", "deep4", "eegnet"])
def test_small_networks_give_finite_logits_counted_as_the_params_say(model):
  x, variables = _init(model, (2, 4, 128))
  logits = model.apply(variables, x)
  assert logits.shape == (2, 2) and np.isfinite(logits).all()
  assert count_params(variables["params"]) > 0


def test_known_totals():
  """The figures above for the papers' usual inputs (BCI IV 2a: 22 electrodes, 1125
  samples, 4 classes; EEGNet on 64 electrodes x 128 samples)."""
  assert _shallow_count(22, 1125, 4) == 47364
  assert _deep4_count(22, 1125, 4) == 284479
  assert _eegnet_count(64, 128, 4) == 2388


@pytest.mark.parametrize("model,shape", [(ShallowConvNet(num_classes=2), (8, 4, 200)),
                                         (EEGNet(num_classes=2, kernel_length=16),
                                          (8, 4, 64))], ids=["shallow", "eegnet"])
def test_batchnorm_keeps_running_statistics_and_dropout_acts_only_in_training(model, shape):
  x, variables = _init(model, shape)
  x = 3.0 + 2.0 * x
  out, updated = model.apply(variables, x, train=True, mutable=["batch_stats"],
                             rngs={"dropout": jax.random.key(1)})
  moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), updated["batch_stats"],
                       variables["batch_stats"])
  assert min(jax.tree.leaves(moved)) > 0          # every running statistic was updated
  again, _ = model.apply(variables, x, train=True, mutable=["batch_stats"],
                         rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(out, again)              # another dropout mask
  evaluated = {**variables, "batch_stats": updated["batch_stats"]}
  a = model.apply(evaluated, x)                   # inference: no rng, deterministic
  np.testing.assert_array_equal(a, model.apply(evaluated, x))
  assert not np.allclose(a, model.apply(variables, x))   # it uses the running statistics
  with pytest.raises(Exception):
    model.apply(variables, x, train=True, mutable=["batch_stats"])   # dropout needs a key


def test_eegnet_depthwise_filters_see_only_their_temporal_filter():
  """The depthwise layer is a grouped convolution (groups = F1): spatial filters k*D ..
  k*D + D - 1 take temporal filter k only."""
  model = EEGNet(num_classes=2, f1=4, d=2, kernel_length=8)
  x, variables = _init(model, (2, 5, 32))
  params = variables["params"]
  assert params["depthwise"]["kernel"].shape == (5, 1, 1, 8)

  def depthwise_out(p):
    _, state = model.apply({**variables, "params": p}, x, capture_intermediates=True,
                           mutable=["intermediates"])
    return np.asarray(state["intermediates"]["depthwise"]["__call__"][0])

  base = depthwise_out(params)
  k = 2
  cut = dict(params, conv_time={"kernel": params["conv_time"]["kernel"].at[..., k].set(0.0)})
  out = depthwise_out(cut)
  group = [k * 2, k * 2 + 1]
  others = [i for i in range(8) if i not in group]
  np.testing.assert_allclose(out[..., group], 0.0, atol=1e-6)
  np.testing.assert_allclose(out[..., others], base[..., others], rtol=1e-5, atol=1e-6)


def test_max_norm_caps_each_units_incoming_weights_of_the_named_modules():
  model = EEGNet(num_classes=3, kernel_length=16)
  _, variables = _init(model, (2, 8, 64))
  params = jax.tree.map(lambda a: 10.0 * a, variables["params"])
  capped = apply_max_norm(params)
  for name, limit in MAX_NORMS.items():
    w = np.asarray(capped[name]["kernel"])
    norms = np.sqrt((w ** 2).reshape(-1, w.shape[-1]).sum(0))
    assert norms.max() <= limit * (1 + 1e-5), name
    np.testing.assert_allclose(norms, limit, rtol=1e-5)     # all were above: at the cap
  np.testing.assert_array_equal(capped["conv_time"]["kernel"], params["conv_time"]["kernel"])
  small = jax.tree.map(lambda a: 1e-4 * a, variables["params"])
  np.testing.assert_array_equal(apply_max_norm(small)["depthwise"]["kernel"],
                                small["depthwise"]["kernel"])   # under the cap: unchanged


def test_inputs_that_are_not_trials_are_refused_with_the_expected_shape():
  def init(model, shape):
    jax.eval_shape(lambda x: model.init(KEY, x), jax.ShapeDtypeStruct(shape, jnp.float32))

  with pytest.raises(ValueError, match=r"\(batch, channels, time\)"):
    init(ShallowConvNet(num_classes=2), (4, 200))
  with pytest.raises(ValueError, match="too short"):
    init(Deep4(num_classes=2), (2, 4, 60))
