import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax.errors import ConfigError
from eegjax.models import MLP, ElmanRNN, mlp_from_params, mlp_sizes, rnn_from_params, rnn_sizes
from declared_groups import mlp_hidden_group, rnn_hidden_group
from eegjax.pruning.surgery import (drop_units, merge_into, merge_scale,
                                    remove_units)

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def mlp_setup(hidden=(6, 5)):
  model = MLP(hidden_sizes=hidden, num_classes=3)
  x = jax.random.uniform(jax.random.key(1), (50, 4))
  return model, model.init(jax.random.key(0), x), x


def set_unit(params, layer, dst, src, sign=1.0):
  """Makes hidden unit dst of `layer` compute sign * (src's pre-activation)."""
  p = jax.tree.map(lambda a: a, params)
  d = p["params"][f"Dense_{layer}"]
  d["kernel"] = d["kernel"].at[:, dst].set(sign * d["kernel"][:, src])
  d["bias"] = d["bias"].at[dst].set(sign * d["bias"][src])
  return p


def test_merging_identical_units_keeps_outputs_paper_and_scaled():
  model, params, x = mlp_setup()
  params = set_unit(params, 0, dst=4, src=1)             # unit 4 duplicates unit 1
  ref = model.apply(params, x)
  group = mlp_hidden_group(0)
  _, acts = model.apply(params, x, return_activations=True)
  c = merge_scale(acts[0], 4, 1)
  np.testing.assert_allclose(c, 1.0, rtol=1e-6)
  for scale in (1.0, c):                                 # paper rule, scaled rule
    merged = remove_units(merge_into(params, group, 4, 1, scale), group,
                          jnp.array([0, 1, 2, 3, 5]))
    out = mlp_from_params(merged).apply(merged, x)
    chex.assert_trees_all_close(out, ref, atol=1e-6)
    assert mlp_sizes(merged)["hidden_sizes"] == (5, 5)


def test_complementary_units_scaled_rule_is_exact():
  model, params, x = mlp_setup()
  params = set_unit(params, 1, dst=3, src=0, sign=-1.0)  # sigmoid(-z) = 1 - sigmoid(z)
  ref = model.apply(params, x)
  group = mlp_hidden_group(1)
  _, acts = model.apply(params, x, return_activations=True)
  c = merge_scale(acts[1], 3, 0)
  np.testing.assert_allclose(c, -1.0, rtol=1e-5)
  merged = drop_units(merge_into(params, group, 3, 0, c), group, [3])
  chex.assert_trees_all_close(mlp_from_params(merged).apply(merged, x), ref, atol=1e-5)
  # the paper's rule (c = 1, no bias shift) is not exact for a complementary pair
  paper = drop_units(merge_into(params, group, 3, 0, 1.0), group, [3])
  assert not np.allclose(mlp_from_params(paper).apply(paper, x), ref, atol=1e-3)


def test_removing_a_unit_without_outgoing_weights_is_exact():
  model, params, x = mlp_setup()
  params["params"]["Dense_1"]["kernel"] = params["params"]["Dense_1"]["kernel"].at[2].set(0.0)
  ref = model.apply(params, x)
  small = drop_units(params, mlp_hidden_group(0), [2])
  chex.assert_trees_all_close(mlp_from_params(small).apply(small, x), ref, atol=1e-6)
  assert mlp_sizes(small) == {"num_inputs": 4, "hidden_sizes": (5, 5), "num_classes": 3}


def test_pruning_more_units_than_exist_is_a_clear_error():
  _, params, _ = mlp_setup()
  group = mlp_hidden_group(0)
  with pytest.raises(ConfigError, match="cannot prune 6 units from a layer of 6"):
    drop_units(params, group, range(6))
  with pytest.raises(ConfigError, match=r"the layer has units 0..5"):
    drop_units(params, group, [7])


def test_vmapped_surgery_equals_per_model():
  model = MLP(hidden_sizes=(6,), num_classes=2)
  x = jnp.ones((1, 3))
  stacked = jax.vmap(lambda k: model.init(k, x))(jax.random.split(jax.random.key(0), 4))
  group = mlp_hidden_group(0)
  d = jnp.array([0, 5, 2, 3])
  k = jnp.array([1, 4, 0, 2])
  c = jnp.array([1.0, 0.5, -1.0, 2.0])
  keep = jnp.stack([jnp.delete(jnp.arange(6), int(i), assume_unique_indices=True)
                    for i in d])
  batched = jax.vmap(lambda p, d_, k_, c_, kp: remove_units(merge_into(p, group, d_, k_, c_),
                                                            group, kp))(stacked, d, k, c, keep)
  for i in range(4):
    one = jax.tree.map(lambda a: a[i], stacked)
    alone = remove_units(merge_into(one, group, int(d[i]), int(k[i]), float(c[i])), group,
                         keep[i])
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], batched), alone, atol=1e-6)


def test_rnn_duplicate_unit_merge_is_exact_over_long_sequences():
  model = ElmanRNN(hidden_size=7, num_classes=3)
  x = jax.random.normal(jax.random.key(2), (3, 2000, 2))
  params = model.init(jax.random.key(0), x)
  p = params["params"]
  d, k = 5, 2                                            # unit 5 copies unit 2's inputs
  p["ih"]["kernel"] = p["ih"]["kernel"].at[:, d].set(p["ih"]["kernel"][:, k])
  p["ih"]["bias"] = p["ih"]["bias"].at[d].set(p["ih"]["bias"][k])
  p["hh"]["kernel"] = p["hh"]["kernel"].at[:, d].set(p["hh"]["kernel"][:, k])
  lengths = jnp.array([2000, 1500, 700])
  ref = model.apply(params, x, lengths=lengths)
  group = rnn_hidden_group()
  keep = jnp.array([u for u in range(7) if u != d])
  merged = remove_units(merge_into(params, group, d, k, 1.0), group, keep)
  assert rnn_sizes(merged)["hidden_size"] == 6
  out = rnn_from_params(merged).apply(merged, x, lengths=lengths)
  chex.assert_trees_all_close(out, ref, atol=1e-5)


def test_rnn_removing_a_unit_without_outgoing_weights_is_exact():
  model = ElmanRNN(hidden_size=6, num_classes=3)
  x = jax.random.normal(jax.random.key(3), (2, 1500, 1))
  params = model.init(jax.random.key(0), x)
  p = params["params"]
  p["hh"]["kernel"] = p["hh"]["kernel"].at[4].set(0.0)          # unit 4 feeds no unit
  p["readout"]["kernel"] = p["readout"]["kernel"].at[4].set(0.0)  # nor the readout
  ref = model.apply(params, x)
  small = drop_units(params, rnn_hidden_group(), [4])
  chex.assert_trees_all_close(rnn_from_params(small).apply(small, x), ref, atol=1e-5)
