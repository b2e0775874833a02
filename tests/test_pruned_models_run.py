"""A pruned model runs and is kept: parameters in any pytree (an Equinox-style module of
attributes and lists) prune as nested dicts do; a pruned linen model runs, is saved and
loaded, and is pruned again through `resized_apply` from the module's shapes alone; what
the engine cannot take (an NNX module passed straight, parameters that are not arrays, a
pruned model given to the module's own apply, a statistic over the batch) is refused in
one sentence, never a raw flax or TypeError."""

import dataclasses

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from eegjax import pruning
from eegjax.errors import ConfigError

pytestmark = pytest.mark.numeric


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Linear:                     # as an Equinox module holds it: attributes, no dicts
  weight: jax.Array               # (out, in), Equinox's layout
  bias: jax.Array

  def __call__(self, x):
    return x @ self.weight.T + self.bias


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Net:
  layers: list

  def __call__(self, x):
    for layer in self.layers[:-1]:
      x = jnp.tanh(layer(x))
    return self.layers[-1](x)


def _net(key, sizes=(6, 10, 8, 3)):
  keys = jax.random.split(key, len(sizes))
  return Net([Linear(jax.random.normal(k, (o, i)) / np.sqrt(i), 0.1 * jax.random.normal(k, (o,)))
              for k, i, o in zip(keys, sizes[:-1], sizes[1:])])


def _as_dict(net):
  return {f"layer{i}": {"weight": l.weight, "bias": l.bias} for i, l in enumerate(net.layers)}


def _dict_apply(p, x):
  layers = [Linear(**p[f"layer{i}"]) for i in range(len(p))]
  return Net(layers)(x)


@pytest.mark.parametrize("criterion", ["magnitude", "distinctiveness"])
def test_a_module_of_attributes_and_lists_prunes_as_the_same_network_in_dicts(criterion):
  net = _net(jax.random.PRNGKey(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (64, 6))
  small, report = pruning.prune_to(lambda m, x: m(x), net, x, ratio=0.5, criterion=criterion,
                                   compensation="mean")
  small_d, report_d = pruning.prune_to(_dict_apply, _as_dict(net), x, ratio=0.5,
                                       criterion=criterion, compensation="mean")
  assert isinstance(small, Net) and [l.weight.shape for l in small.layers] == [
      (5, 6), (4, 5), (3, 4)]
  assert [g["kept"] for g in report.groups.values()] == [
      g["kept"] for g in report_d.groups.values()]
  np.testing.assert_allclose(small(x), _dict_apply(small_d, x), rtol=1e-6, atol=1e-6)


def test_parameters_that_are_not_all_arrays_are_refused_naming_the_leaf():
  net = _net(jax.random.PRNGKey(0))
  net.layers.append(jax.nn.relu)          # a whole Equinox module holds its functions too
  with pytest.raises(ConfigError, match=r"layers/3 is a .*eqx.partition"):
    pruning.discover_groups(lambda m, x: m(x), net, jnp.ones((2, 6)))


class NNXNet(nnx.Module):
  def __init__(self):
    self.a, self.b = nnx.Linear(4, 8, rngs=nnx.Rngs(0)), nnx.Linear(8, 3, rngs=nnx.Rngs(1))

  def __call__(self, x):
    return self.b(jnp.tanh(self.a(x)))


def test_an_nnx_module_prunes_as_params_and_is_refused_as_apply_fn_naming_from_nnx():
  model, x = NNXNet(), jax.random.normal(jax.random.PRNGKey(0), (30, 4))
  with pytest.raises(ConfigError, match="pruning.from_nnx"):
    pruning.discover_groups(model, x)
  small, report = pruning.prune_to(lambda m, x: m(x), model, x, ratio=0.5,
                                   criterion="magnitude", compensation="none")
  assert isinstance(small, NNXNet) and small.a.kernel[...].shape == (4, 4)
  zeroed = jax.tree.map(lambda a: a, model)
  keep = np.asarray(next(iter(report.groups.values()))["kept"])
  zeroed.b.kernel[...] = model.b.kernel[...].at[np.setdiff1d(np.arange(8), keep)].set(0)
  np.testing.assert_allclose(small(x), zeroed(x), rtol=1e-5, atol=1e-5)
  assert model.a.kernel[...].shape == (4, 8)          # the caller's module is not changed


class MLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(12)(x))
    x = nn.relu(nn.Dense(10)(x))
    return nn.Dense(3)(x)


def test_a_pruned_linen_model_runs_saved_loaded_and_pruned_again_from_the_shapes(tmp_path):
  model, x = MLP(), jax.random.normal(jax.random.PRNGKey(1), (40, 5))
  params = model.init(jax.random.PRNGKey(0), x)
  small, _ = pruning.prune_to(model.apply, params, x, ratio=0.5, criterion="magnitude")
  with pytest.raises(ConfigError, match=r"pruned linen model.*resized_apply"):
    pruning.prune_to(model.apply, small, x, ratio=0.5)        # the module's own apply
  (tmp_path / "small.msgpack").write_bytes(flax.serialization.msgpack_serialize(
      jax.tree.map(np.asarray, small)))
  loaded = flax.serialization.msgpack_restore((tmp_path / "small.msgpack").read_bytes())
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  run = pruning.resized_apply(model.apply, shapes, x)
  y = run(loaded, x[:7])
  np.testing.assert_array_equal(y, pruning.resized_apply(model.apply, params, x)(small, x[:7]))
  assert y.shape == (7, 3)
  smaller, report = pruning.prune_to(run, loaded, x, ratio=0.5, criterion="magnitude",
                                     compensation="none")
  assert [g["units_after"] for g in report.groups.values()] == [3, 3]
  kept = [np.asarray(g["kept"]) for g in report.groups.values()]
  zeroed = jax.tree.map(np.array, loaded)            # the same units zeroed in the loaded model
  for name, k in zip(("Dense_1", "Dense_2"), kept):
    rows = np.setdiff1d(np.arange(zeroed["params"][name]["kernel"].shape[0]), k)
    zeroed["params"][name]["kernel"][rows] = 0
  np.testing.assert_allclose(run(smaller, x), run(zeroed, x), rtol=1e-5, atol=1e-5)


def test_an_input_of_another_width_is_refused_in_a_sentence():
  model, x = MLP(), jnp.ones((4, 5))
  params = model.init(jax.random.PRNGKey(0), x)
  with pytest.raises(ConfigError, match="another width"):
    pruning.discover_groups(model.apply, params, jnp.ones((4, 7)))


class HandBatchNorm(nn.Module):   # flaxmodels' kind: the batch's mean and variance, by hand
  @nn.compact
  def __call__(self, x):
    h = nn.Dense(8, name="normed")(x)
    h = (h - h.mean(0)) / jnp.sqrt(h.var(0) + 1e-5)
    h = nn.relu(nn.Dense(6, name="hidden")(nn.relu(h)))
    return nn.Dense(3, name="out")(h)


def test_a_batch_statistic_written_by_hand_is_refused_where_it_feeds():
  model, x = HandBatchNorm(), jax.random.normal(jax.random.PRNGKey(1), (16, 5))
  groups = {g.name: g for g in pruning.discover_groups(
      model.apply, model.init(jax.random.PRNGKey(0), x), x)}
  assert not groups["normed"].prunable
  assert "patterns' axis" in groups["normed"].reason
  assert groups["hidden"].prunable
