"""Flax NNX modules through the engine (`pruning.from_nnx`): discovery, copy -> merge ->
remove exact, prune, and the pruned values written back into the module."""

import chex
import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from eegjax import pruning
from eegjax.errors import ConfigError
from eegjax.pruning import copy_unit, merge_into, remove_units

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


class Net(nnx.Module):
  def __init__(self, rngs):
    self.conv = nnx.Conv(3, 6, kernel_size=(3,), rngs=rngs)
    self.bn = nnx.BatchNorm(6, use_running_average=True, rngs=rngs)
    self.hidden = nnx.Linear(6 * 8, 10, rngs=rngs)
    self.out = nnx.Linear(10, 2, rngs=rngs)

  def __call__(self, x):                       # x (trials, 10 samples, 3 channels)
    h = nnx.relu(self.bn(self.conv(x)))[:, 1:-1]   # (trials, 8, 6)
    h = nnx.tanh(self.hidden(h.reshape(h.shape[0], -1)))
    return self.out(h)


def test_an_nnx_module_is_discovered_and_pruned_exactly():
  model = Net(nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (7, 10, 3))
  apply_fn, params = pruning.from_nnx(model)
  chex.assert_trees_all_close(apply_fn(params, x), model(x))
  groups = {g.name: g for g in pruning.discover_groups(apply_fn, params, x)}
  assert groups["conv"].prunable and groups["conv"].size(params) == 6
  assert groups["hidden"].prunable and groups["hidden"].size(params) == 10
  assert not groups["out"].prunable
  run = pruning.resized_apply(apply_fn, params, x)
  for name in ("conv", "hidden"):
    g = groups[name]
    n = g.size(params)
    twin = copy_unit(params, g, 0, n - 1)
    small = remove_units(merge_into(twin, g, n - 1, 0, 1.0), g, jnp.arange(n - 1))
    chex.assert_trees_all_close(run(small, x), apply_fn(twin, x), atol=1e-5)
  small, record = pruning.prune(apply_fn, params, x, max_pruned=4, beyond_thresholds=True)
  # every group: conv 6 -> 2 (so 8 x 2 inputs of hidden), hidden 10 -> 6
  assert record["conv"]["units_left"] == 2 and record["hidden"]["units_left"] == 6
  assert small["hidden"]["kernel"].shape == (16, 6)
  expected = run(small, x)
  pruning.update_nnx(model, small)             # the module holds the pruned arrays
  assert model.hidden.kernel[...].shape == (16, 6)
  chex.assert_trees_all_close(model(x), expected, atol=1e-5)


def test_a_linen_module_is_not_taken_for_nnx():
  import flax.linen as nn
  with pytest.raises(ConfigError, match="expected a flax.nnx.Module"):
    pruning.from_nnx(nn.Dense(3))
