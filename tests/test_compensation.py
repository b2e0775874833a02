"""The compensation axis and the criterion registry: what becomes of a removed unit is
the same whatever chose it, and each compensation is exact where it should be."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax import pruning
from eegjax.errors import ConfigError
from eegjax.models import MLP, mlp_from_params
from eegjax.pruning import compensation, criteria
from eegjax.pruning.progressive import REMOVED, REMOVED_CONSTANT, PruneConfig, prune_step
from eegjax.pruning.surgery import copy_unit, remove_units
from declared_groups import mlp_hidden_group

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def stats_of(acts, centre):
  a = acts - centre
  return {"gram": a.T @ a, "mean": acts.mean(0), "var": acts.var(0),
          "count": jnp.asarray(float(acts.shape[0]))}


def relu_net(units=5, seed=0):
  """A relu MLP whose pre-activations are all positive (relu acts as the identity), so
  a unit can be made an exact affine function of others."""
  model = MLP((units,), 3, activation="relu")
  x = jax.random.uniform(jax.random.key(seed), (64, 4))
  params = model.init(jax.random.key(seed + 1), x)
  d0 = params["params"]["Dense_0"]
  d0 = {"kernel": jnp.abs(d0["kernel"]), "bias": jnp.abs(d0["bias"]) + 0.1}
  return model, {"params": {**params["params"], "Dense_0": d0}}, x


def acts_of(model, params, x):
  return model.apply(params, x, return_activations=True)[1][0]


def test_least_squares_refit_is_exact_for_an_affine_unit():
  model, params, x = relu_net()
  d0 = params["params"]["Dense_0"]
  # unit 3 = 0.5 unit 1 + 2 unit 2 + 0.3, exactly (relu is the identity here)
  d0 = {"kernel": d0["kernel"].at[:, 3].set(0.5 * d0["kernel"][:, 1] + 2 * d0["kernel"][:, 2]),
        "bias": d0["bias"].at[3].set(0.5 * d0["bias"][1] + 2 * d0["bias"][2] + 0.3)}
  params = {"params": {**params["params"], "Dense_0": d0}}
  group = mlp_hidden_group(0, "relu")
  st = stats_of(acts_of(model, params, x), 0.0)
  beta, shift = compensation.least_squares_fit(st, 3, jnp.arange(5) != 3, 0.0)
  np.testing.assert_allclose(beta, [0, 0.5, 2.0, 0, 0], atol=2e-3)
  np.testing.assert_allclose(shift, 0.3, atol=2e-3)
  new = compensation.compensate(params, group, "least_squares", 3, st, jnp.ones(5, bool))
  small = remove_units(new, group, jnp.array([0, 1, 2, 4]))
  out = MLP((4,), 3, activation="relu").apply(small, x)
  np.testing.assert_allclose(out, model.apply(params, x), atol=1e-3)
  # deleting the unit instead changes the outputs
  plain = remove_units(params, group, jnp.array([0, 1, 2, 4]))
  assert np.abs(MLP((4,), 3, activation="relu").apply(plain, x)
                - model.apply(params, x)).max() > 1e-2


@pytest.mark.parametrize("name", ["least_squares", "merge", "mean"])
def test_a_removed_duplicate_or_constant_keeps_the_outputs(name):
  """least_squares and merge carry a duplicated unit's contribution to its twin (magnitude
  chose it); every compensation but none removes a constant unit exactly, first."""
  model = MLP((6,), 3)
  x = jax.random.normal(jax.random.key(0), (80, 4))
  params = model.init(jax.random.key(1), x)
  group = mlp_hidden_group(0)
  params = copy_unit(params, group, 1, 4)                        # unit 4 = unit 1
  k = params["params"]["Dense_1"]["kernel"]
  params["params"]["Dense_1"]["kernel"] = k.at[4].mul(1e-2)      # the smallest outgoing
  if name == "mean":                                             # unit 2: a constant
    d0 = params["params"]["Dense_0"]
    params["params"]["Dense_0"] = {"kernel": d0["kernel"].at[:, 2].set(0.0),
                                   "bias": d0["bias"].at[2].set(1.3)}
    params["params"]["Dense_1"]["kernel"] = params["params"]["Dense_1"]["kernel"].at[2].mul(9.0)
  st = stats_of(acts_of(model, params, x), 0.5)
  cfg = PruneConfig("magnitude", step=1, compensation=name)
  new, ids, _, rec, _ = prune_step(params, jnp.arange(6), st, jax.random.key(0), group, cfg)
  gone = 2 if name == "mean" else 4
  assert int(rec["removed"][0]) == gone
  if name == "mean":
    assert int(rec["kind"][0]) == REMOVED_CONSTANT      # before the smallest-norm unit
  if name == "merge":
    assert int(rec["kept"][0]) == 1                      # its partner: the nearest unit
  chex.assert_trees_all_close(mlp_from_params(new).apply(new, x), model.apply(params, x),
                              atol=2e-4)


def test_magnitude_ranks_by_outgoing_not_incoming_weights():
  model = MLP((4,), 2)
  x = jnp.ones((3, 5))
  params = model.init(jax.random.key(0), x)
  p = params["params"]
  p["Dense_0"]["kernel"] = p["Dense_0"]["kernel"].at[:, 2].mul(100.0)  # largest incoming
  p["Dense_1"]["kernel"] = p["Dense_1"]["kernel"].at[2].mul(1e-3)      # smallest outgoing
  p["Dense_0"]["kernel"] = p["Dense_0"]["kernel"].at[:, 0].mul(1e-3)   # smallest incoming
  _, _, _, rec, _ = prune_step(params, jnp.arange(4), jnp.eye(4), jax.random.key(0),
                               mlp_hidden_group(0), PruneConfig("magnitude", step=1,
                                                                compensation="none"))
  assert int(rec["removed"][0]) == 2 and int(rec["kind"][0]) == REMOVED


def test_a_registered_criterion_is_used_by_prune_and_needs_are_checked():
  model = MLP((5,), 2)
  x = jax.random.normal(jax.random.key(0), (32, 3))
  params = model.init(jax.random.key(1), x)
  name = "largest_bias_test"
  criteria.register(criteria.Criterion(
      name, "the unit with the largest bias",
      score=lambda p, group, stats: -p["params"]["Dense_0"]["bias"]), replace=True)
  try:
    want = int(jnp.argmax(params["params"]["Dense_0"]["bias"]))
    small, record = pruning.prune(model.apply, params, x, criterion=name, step=1,
                                  max_pruned=1, groups=["Dense_0"], compensation="none")
    assert record["Dense_0"]["steps"][0]["actions"] == [f"-{want}"]
    assert record["Dense_0"]["compensation"] == "none"
    assert small["params"]["Dense_0"]["kernel"].shape == (3, 4)
    with pytest.raises(ConfigError, match="registered already"):
      criteria.register(criteria.Criterion(name, "again", score=lambda p, g, s: 0))
  finally:
    criteria._REGISTRY.pop(name)
  with pytest.raises(ConfigError, match="exactly one of pair_gram, score or draw"):
    criteria.Criterion("both", "x", score=lambda *a: 0, draw=lambda *a: 0)
  with pytest.raises(ConfigError, match=r"compensation least_squares needs \['mean', 'count'\]"):
    prune_step(params, jnp.arange(5), jnp.eye(5), jax.random.key(0), mlp_hidden_group(0),
               PruneConfig("random", step=1, compensation="least_squares"))


def test_prune_one_call_under_every_compensation():
  """pruning.prune reads the statistics each compensation needs; folding the mean and the
  least-squares refit keep the network closer to the original than deleting does."""
  model = MLP((8,), 3)
  x = jax.random.normal(jax.random.key(2), (200, 4))
  params = model.init(jax.random.key(3), x)
  err = {}
  for name in compensation.COMPENSATIONS:
    small, record = pruning.prune(model.apply, params, x, criterion="magnitude", step=2,
                                  max_pruned=4, compensation=name)
    assert small["params"]["Dense_0"]["kernel"].shape == (4, 4)
    assert record["Dense_0"]["compensation"] == name
    out = mlp_from_params(small).apply(small, x)
    err[name] = float(jnp.abs(out - model.apply(params, x)).mean())
  assert err["least_squares"] < err["mean"] < err["none"]
