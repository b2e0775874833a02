"""The engine on models a JAX user writes (issue 26's list): each either prunes exactly
(copy a unit, merge it back, remove it: outputs unchanged) or is refused at discovery in one
plain sentence; `prune()` skips a group it cannot score and says why."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax import pruning
from eegjax.pruning import copy_unit, merge_into, remove_units

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric

K = jax.random.key(0)


class Remat(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(2)(nn.relu(nn.remat(nn.Dense)(10)(x)))


class _Cell(nn.Module):
  @nn.compact
  def __call__(self, c, xt):
    return c + nn.Dense(3)(nn.tanh(nn.Dense(10)(xt))), None


class ScanBody(nn.Module):
  """A dense layer applied at every step inside an nn.scan body (not a carry)."""
  @nn.compact
  def __call__(self, x):
    scan = nn.scan(_Cell, variable_broadcast="params", split_rngs={"params": False},
                   in_axes=1)
    return scan()(jnp.zeros((x.shape[0], 3)), x)[0]


class Reverse(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(2)(nn.RNN(nn.GRUCell(8), reverse=True)(x)[:, -1])


class Bidirectional(nn.Module):
  @nn.compact
  def __call__(self, x):
    h = nn.Bidirectional(nn.RNN(nn.GRUCell(8)), nn.RNN(nn.GRUCell(6)))(x)
    return nn.Dense(2)(h[:, -1])


class Embedding(nn.Module):
  @nn.compact
  def __call__(self, tokens):
    return nn.Dense(2)(nn.relu(nn.Dense(8)(nn.Embed(20, 6)(tokens).mean(1))))


class Attention(nn.Module):
  @nn.compact
  def __call__(self, x):
    h = nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=8)(x)
    return nn.Dense(2)(nn.relu(nn.Dense(12)(h)).mean(1))


MODELS = {
    "remat": (Remat(), (4, 5), {"CheckpointDense_0": 10}),
    "scan_body": (ScanBody(), (4, 7, 5), {"Scan_Cell_0/Dense_1": 10}),
    "reverse": (Reverse(), (4, 7, 3), {"GRUCell_0": 8}),
    "bidirectional": (Bidirectional(), (4, 7, 3), {"GRUCell_0": 8, "GRUCell_1": 6}),
    "embedding": (Embedding(), (4, 7), {"Embed_0": 6, "Dense_1": 8}),
    "attention_heads": (Attention(), (4, 6, 8),
                        {"MultiHeadDotProductAttention_0.heads": 2,
                         "MultiHeadDotProductAttention_0/value": 4, "Dense_1": 12}),
}


def _setup(name):
  model, shape, expected = MODELS[name]
  x = (jax.random.randint(K, shape, 0, 20) if name == "embedding" else
       jax.random.normal(K, shape))
  return model, model.init(K, x), x, expected


@pytest.mark.parametrize("name", sorted(MODELS))
def test_users_models_prune_exactly(name):
  model, params, x, expected = _setup(name)
  groups = {g.name: g for g in pruning.discover_groups(model.apply, params, x)}
  for gname, width in expected.items():
    g = groups[gname]
    assert g.prunable and g.size(params) == width, (gname, g.reason)
    assert g.activation is not None, gname
  run = pruning.resized_apply(model.apply, params, x)
  for gname in expected:
    g = groups[gname]
    n = g.size(params)
    twin = copy_unit(params, g, 0, n - 1)
    small = remove_units(merge_into(twin, g, n - 1, 0, 1.0), g, jnp.arange(n - 1))
    chex.assert_trees_all_close(run(small, x), model.apply(twin, x), atol=1e-5)
    stats = pruning.activations(model.apply, params, [g], x)[g.name]
    assert stats.gram.shape == (n, n) and float(stats.count) > 0


def test_a_scan_body_unit_is_read_at_every_step_of_every_pattern():
  model, params, x, _ = _setup("scan_body")
  g = {g.name: g for g in pruning.discover_groups(model.apply, params, x)}[
      "Scan_Cell_0/Dense_1"]
  stats = pruning.activations(model.apply, params, [g], x)[g.name]
  assert float(stats.count) == 4 * 7          # patterns x steps, not a 3x3 Gram
  kernel = params["params"]["Scan_Cell_0"]["Dense_1"]
  h = jnp.tanh(x @ kernel["kernel"] + kernel["bias"]).reshape(-1, 10)
  chex.assert_trees_all_close(stats.gram, h.T @ h, rtol=1e-4, atol=1e-4)


def test_attention_query_key_dimension_is_refused_in_one_sentence():
  model, params, x, _ = _setup("attention_heads")
  g = {g.name: g for g in pruning.discover_groups(model.apply, params, x)}[
      "MultiHeadDotProductAttention_0.query_key_dim"]        # named by its role
  assert not g.prunable and "bilinearly" in g.reason


def test_batchnorm_in_training_mode_is_refused_pointing_to_inference_mode():
  class BN(nn.Module):
    train: bool

    @nn.compact
    def __call__(self, x):
      h = nn.BatchNorm(use_running_average=not self.train)(nn.Dense(10)(x))
      return nn.Dense(2)(nn.relu(h))
  x = jax.random.normal(K, (6, 5))
  params = BN(True).init(K, x)
  g = pruning.discover_groups(
      lambda p, x: BN(True).apply(p, x, mutable=["batch_stats"]), params, x)[0]
  assert not g.prunable and "trace the model in inference mode" in g.reason
  g = pruning.discover_groups(BN(False).apply, params, x)[0]     # inference: prunable
  assert g.prunable and g.size(params) == 10


def test_dropout_in_training_mode_is_followed():
  class Drop(nn.Module):
    @nn.compact
    def __call__(self, x):
      h = nn.Dropout(0.5, deterministic=False)(nn.relu(nn.Dense(10)(x)))
      return nn.Dense(2)(h)
  x = jax.random.normal(K, (6, 5))
  params = Drop().init(K, x)
  fn = lambda p, x: Drop().apply(p, x, rngs={"dropout": K})   # noqa: E731
  g = pruning.discover_groups(fn, params, x)[0]
  assert g.prunable and g.size(params) == 10
  small = remove_units(params, g, jnp.arange(7))
  assert pruning.resized_apply(fn, params, x)(small, x).shape == (6, 2)


def test_prune_skips_a_group_it_cannot_score_and_says_why():
  class Maxout(nn.Module):
    @nn.compact
    def __call__(self, x):
      h = nn.Dense(12)(x).reshape(x.shape[0], 6, 2).max(-1)    # maxout: Dense_0
      return nn.Dense(2)(h)
  x = jax.random.normal(K, (16, 5))
  params = Maxout().init(K, x)
  small, record = pruning.prune(Maxout().apply, params, x, max_pruned=2,
                                beyond_thresholds=True)
  assert record["Dense_0"]["units_left"] == 4
  assert "no per-unit activation" in record["Dense_0.axis1.factor1"]["skipped"]
  with pytest.raises(Exception, match="no per-unit activation"):   # named: an error
    pruning.prune(Maxout().apply, params, x, groups=["Dense_0.axis1.factor1"])
  assert np.asarray(pruning.resized_apply(Maxout().apply, params, x)(small, x)).shape == (
      16, 2)
