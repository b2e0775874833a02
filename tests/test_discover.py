"""Discovery of unit groups from the traced computation, on models the project has never
seen (conv + flatten + dense, GRU, LSTM, residual + concatenation) and on its own."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from declared_groups import conv_channel_group, mlp_hidden_group, rnn_hidden_group, \
    same_slices
from eegjax.models import MLP, ElmanRNN, mlp_from_params, rnn_from_params
from eegjax.models.autoencoder import BandAutoencoder
from eegjax.models.gan import Discriminator, discriminator_features
from eegjax.pruning import (copy_unit, discover_groups, merge_into, remove_units,
                            resized_apply, zero_units)

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric

KEY = jax.random.key(0)


class ConvFlat(nn.Module):
  """EEGNet-like: 1-D convolutions (stride, padding), flatten, dense."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(5, (3,))(x))
    x = nn.relu(nn.Conv(7, (3,), strides=2, padding="VALID")(x))
    h = nn.tanh(nn.Dense(9)(x.reshape(x.shape[0], -1)))
    return nn.Dense(2)(h)


class Conv2dPool(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.max_pool(nn.relu(nn.Conv(4, (3, 3))(x)), (2, 2), (2, 2))
    x = nn.avg_pool(nn.relu(nn.Conv(6, (3, 3), strides=2)(x)), (2, 2), (2, 2))
    return nn.Dense(3)(x.reshape(x.shape[0], -1))


class Recurrent(nn.Module):
  cell: str

  @nn.compact
  def __call__(self, x):
    cell = {"gru": nn.GRUCell(6), "lstm": nn.LSTMCell(6), "olstm": nn.OptimizedLSTMCell(6),
            "simple": nn.SimpleCell(6)}[self.cell]
    h = nn.RNN(cell)(x)
    return nn.Dense(3)(h[:, -1])


class ResidualConcat(nn.Module):
  @nn.compact
  def __call__(self, x):
    h = nn.Dense(8)(x)
    h = h + nn.relu(nn.Dense(8)(nn.relu(h)))        # residual: one coupled group
    a = nn.sigmoid(nn.Dense(4)(x))
    return nn.Dense(3)(jnp.concatenate([h, a], axis=-1))


class Iterated(nn.Module):
  """A state refined by a while loop through one shared kernel (its rows and columns are
  both the state's units, as an RNN's recurrent kernel)."""

  @nn.compact
  def __call__(self, x):
    h = nn.tanh(nn.Dense(6)(x))
    w = self.param("w", nn.initializers.normal(0.3), (6, 6))
    _, h = jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.tanh(c[1] @ w)),
                              (0, h))
    return nn.Dense(2)(h)


MODELS = {
    "conv_flatten": (ConvFlat(), (6, 10, 3), {"Conv_0": 5, "Conv_1": 7, "Dense_0": 9}),
    "conv2d_pool": (Conv2dPool(), (6, 12, 12, 2), {"Conv_0": 4, "Conv_1": 6}),
    "gru": (Recurrent("gru"), (6, 5, 2), {"GRUCell_0": 6}),
    "lstm": (Recurrent("lstm"), (6, 5, 2), {"LSTMCell_0": 6}),
    "optimized_lstm": (Recurrent("olstm"), (6, 5, 2), {"OptimizedLSTMCell_0": 6}),
    "simple_rnn": (Recurrent("simple"), (6, 5, 2), {"SimpleCell_0": 6}),
    "residual_concat": (ResidualConcat(), (6, 5), {"Dense_0+Dense_1": 8, "Dense_2": 4}),
    "elman_custom_vjp": (ElmanRNN(6, 3), (6, 7, 2), {"hh+ih": 6}),
    "while_loop": (Iterated(), (6, 5), {"Dense_0+w": 6}),
}


def setup(name):
  model, shape, expected = MODELS[name]
  x = jax.random.normal(KEY, shape)
  params = model.init(jax.random.key(1), x)
  return model, params, x, expected


@pytest.mark.parametrize("name", sorted(MODELS))
def test_discovery_finds_the_hidden_units_and_surgery_keeps_the_function(name):
  model, params, x, expected = setup(name)
  groups = discover_groups(model.apply, params, x)
  prunable = {g.name: g for g in groups if g.prunable}
  assert {n: g.size(params) for n, g in prunable.items()} == expected
  out = [g for g in groups if not g.prunable]
  assert len(out) == 1 and "model output" in out[0].reason     # the logits stay
  run = resized_apply(model.apply, params, x)
  chex.assert_trees_all_close(run(params, x), model.apply(params, x), atol=1e-6)
  for g in prunable.values():
    assert g.activation is not None, g.name
    n = g.size(params)
    twin = copy_unit(params, g, 0, n - 1)          # unit n-1 now computes what unit 0 does
    before = model.apply(twin, x)
    small = remove_units(merge_into(twin, g, n - 1, 0, 1.0), g, jnp.arange(n - 1))
    assert g.size(small) == n - 1
    chex.assert_trees_all_close(run(small, x), before, atol=1e-5)
    # another batch size through the resized program
    chex.assert_trees_all_close(run(small, x[:3]), before[:3], atol=1e-5)
    # a unit whose outgoing entries are zero can be removed exactly
    silent = zero_units(params, g, jnp.arange(n) != 1)
    cut = remove_units(silent, g, jnp.array([u for u in range(n) if u != 1]))
    chex.assert_trees_all_close(run(cut, x), model.apply(silent, x), atol=1e-5)


def test_merge_without_a_copy_changes_the_function():
  """The exactness above is not vacuous: merging two different units does change it."""
  model, params, x, _ = setup("gru")
  g = [g for g in discover_groups(model.apply, params, x) if g.prunable][0]
  small = remove_units(merge_into(params, g, 5, 0, 1.0), g, jnp.arange(5))
  run = resized_apply(model.apply, params, x)
  assert not np.allclose(run(small, x), model.apply(params, x), atol=1e-4)


def test_flatten_after_conv_gives_strided_rows():
  model, params, x, _ = setup("conv_flatten")
  g = {g.name: g for g in discover_groups(model.apply, params, x)}["Conv_1"]
  (dense,) = g.outgoing
  assert dense.path == ("params", "Dense_0", "kernel") and dense.segments == ((4, "Conv_1"),)
  small = remove_units(params, g, jnp.array([0, 1, 2, 4, 5, 6]))
  kernel = params["params"]["Dense_0"]["kernel"]
  rows = [r for r in range(28) if r % 7 != 3]
  np.testing.assert_array_equal(small["params"]["Dense_0"]["kernel"], kernel[jnp.array(rows)])


def test_concatenation_gives_offset_rows_and_residual_couples_kernels():
  model, params, x, _ = setup("residual_concat")
  g = {g.name: g for g in discover_groups(model.apply, params, x)}
  res, side = g["Dense_0+Dense_1"], g["Dense_2"]
  assert {s.path[1] for s in res.incoming} == {"Dense_0", "Dense_1"}
  assert {(s.path[1], s.segments) for s in side.outgoing} == {
      ("Dense_3", (("Dense_0+Dense_1",), ("Dense_2",)))}
  small = remove_units(params, side, jnp.array([0, 2, 3]))
  kernel = params["params"]["Dense_3"]["kernel"]
  np.testing.assert_array_equal(small["params"]["Dense_3"]["kernel"],
                                kernel[jnp.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11])])


def test_an_axis_it_cannot_follow_makes_the_group_unprunable():
  class Sorted(nn.Module):
    @nn.compact
    def __call__(self, x):
      h = jnp.sort(nn.relu(nn.Dense(5)(x)), axis=-1)    # mixes the units: no rule for it
      return nn.Dense(2)(h)

  model = Sorted()
  x = jax.random.normal(KEY, (4, 3))
  params = model.init(KEY, x)
  (hidden,) = [g for g in discover_groups(model.apply, params, x) if g.name == "Dense_0"]
  assert not hidden.prunable and "sort" in hidden.reason
  with pytest.raises(Exception, match="cannot be pruned"):
    remove_units(params, hidden, jnp.arange(4))


def test_own_models_discovered_equal_declared():
  x = jax.random.normal(KEY, (4, 7))
  for act in ("sigmoid", "relu"):
    mlp = MLP((6, 5), 3, act)
    p = mlp.init(KEY, x)
    got = [g for g in discover_groups(mlp.apply, p, x) if g.prunable]
    assert len(got) == 2
    for layer in (0, 1):
      assert same_slices(got[layer], mlp_hidden_group(layer, act))
  rnn = ElmanRNN(6, 3)
  xs = jax.random.normal(KEY, (4, 9, 2))
  p = rnn.init(KEY, xs)
  (got,) = [g for g in discover_groups(rnn.apply, p, xs, jnp.array([9, 3, 5, 9])) if
            g.prunable]
  assert same_slices(got, rnn_hidden_group()) and got.activation.scan is not None
  for semi in (False, True):
    d = Discriminator(features=(4, 5, 6), semi_supervised=semi)
    img = jax.random.normal(KEY, (2, 32, 32, 3))
    p = d.init(KEY, img)
    got = [g for g in discover_groups(d.apply, p, img) if g.prunable]
    assert len(got) == 3
    for layer in range(3):
      assert same_slices(got[layer], conv_channel_group(layer, p))


def test_own_models_rebuilt_from_pruned_params():
  x = jax.random.normal(KEY, (8, 7))
  mlp = MLP((6, 5), 3)
  p = mlp.init(KEY, x)
  g = [g for g in discover_groups(mlp.apply, p, x) if g.prunable][1]
  small = remove_units(p, g, jnp.array([0, 2, 4]))
  run = resized_apply(mlp.apply, p, x)
  chex.assert_trees_all_close(mlp_from_params(small).apply(small, x), run(small, x),
                              atol=1e-6)
  rnn = ElmanRNN(6, 3)
  xs = jax.random.normal(KEY, (4, 9, 2))
  p = rnn.init(KEY, xs)
  g = [g for g in discover_groups(rnn.apply, p, xs) if g.prunable][0]
  small = remove_units(p, g, jnp.array([1, 3, 5]))
  chex.assert_trees_all_close(rnn_from_params(small).apply(small, xs),
                              resized_apply(rnn.apply, p, xs)(small, xs), atol=1e-6)
  d = Discriminator(features=(4, 5, 6))
  img = jax.random.normal(KEY, (2, 32, 32, 3))
  p = d.init(KEY, img)
  g = [g for g in discover_groups(d.apply, p, img) if g.prunable][2]
  small = remove_units(p, g, jnp.array([0, 5]))
  rebuilt = Discriminator(features=discriminator_features(small)).apply(small, img)
  chex.assert_trees_all_close(rebuilt, resized_apply(d.apply, p, img)(small, img),
                              atol=1e-6)


def test_autoencoder_encoder_and_classifier_groups():
  ae = BandAutoencoder()
  x = jax.random.normal(KEY, (4, 192))
  p = ae.init(KEY, x)
  (codes,) = [g for g in discover_groups(ae.apply, p, x) if g.prunable]
  # per band codes are stacked, so code unit j is one unit of all three encoders
  assert codes.name == "encoder_0+encoder_1+encoder_2" and codes.size(p) == 16
  assert codes.centre == 0.5
  run = resized_apply(ae.apply, p, x)
  twin = copy_unit(p, codes, 3, 9)
  small = remove_units(merge_into(twin, codes, 9, 3), codes, jnp.array(
      [u for u in range(16) if u != 9]))
  chex.assert_trees_all_close(run(small, x), ae.apply(twin, x), atol=1e-5)
  clf = MLP((12, 6), 2, "relu")
  codes_in = jax.random.normal(KEY, (4, 48))
  pc = clf.init(KEY, codes_in)
  assert [g.size(pc) for g in discover_groups(clf.apply, pc, codes_in) if g.prunable] == \
      [12, 6]


def test_normalisation_layers_are_noted_and_their_merge_error_measured():
  """LayerNorm reduces over the units: discovery keeps the group prunable but notes it,
  and copy + merge + remove is then no longer exact (the error is measured here). The
  resized program divides its means by the new width: it equals the smaller module."""
  class Normed(nn.Module):
    width: int = 6

    @nn.compact
    def __call__(self, x):
      h = nn.relu(nn.LayerNorm()(nn.Dense(self.width)(x)))
      h = h - jnp.mean(h, axis=-1, keepdims=True)       # a mean over the units too
      return nn.Dense(2)(h)

  model = Normed()
  x = jax.random.normal(KEY, (16, 5))
  params = model.init(KEY, x)
  (g,) = [g for g in discover_groups(model.apply, params, x) if g.prunable]
  assert g.size(params) == 6 and any("reduced over" in n for n in g.notes)
  assert {s.path[1] for s in g.incoming} == {"Dense_0", "LayerNorm_0"}
  twin = copy_unit(params, g, 0, 5)
  small = remove_units(merge_into(twin, g, 5, 0), g, jnp.arange(5))
  err = float(jnp.max(jnp.abs(resized_apply(model.apply, params, x)(small, x) -
                              model.apply(twin, x))))
  assert err > 1e-3        # 6 -> 5 units changes the normalisation's mean and variance
  run = jax.jit(resized_apply(model.apply, params, x))
  chex.assert_trees_all_close(run(small, x), Normed(width=5).apply(small, x), atol=1e-6)


def test_activations_in_chunks_equal_the_plain_gram():
  from eegjax.pruning import Program, activations
  from eegjax.pruning.distinctiveness import gram
  mlp = MLP((6,), 3)
  x = jax.random.normal(KEY, (50, 7))
  w = (jnp.arange(50) % 3 != 0).astype(jnp.float32)
  p = mlp.init(KEY, x)
  (g,) = [g for g in discover_groups(mlp.apply, p, x) if g.prunable]
  got = activations(mlp.apply, p, [g], x, weights=w, chunk=16)[g.name]
  acts = mlp.apply(p, x, return_activations=True)[1][0]
  np.testing.assert_allclose(got.gram, gram(acts, 0.5, w), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got.total, ((acts - 0.5) * w[:, None]).sum(0), rtol=1e-5,
                             atol=1e-5)
  assert float(got.count) == float(w.sum())
  rnn = ElmanRNN(5, 2)
  xs = jax.random.normal(KEY, (9, 12, 2))
  lengths = jnp.array([12, 3, 7, 12, 1, 5, 9, 12, 2])
  p = rnn.init(KEY, xs)
  program = Program(rnn.apply, p, xs, lengths)
  (g,) = [g for g in program.groups if g.prunable]
  got = activations(rnn.apply, p, [g], xs, lengths, lengths=lengths, chunk=4,
                    program=program)[g.name]
  states = rnn.apply(p, xs, lengths=lengths, return_trajectory=True)[1]
  valid = (jnp.arange(12)[None, :] < lengths[:, None]).astype(jnp.float32)
  want = jnp.einsum("bth,btk->hk", states * valid[..., None], states)
  np.testing.assert_allclose(got.gram, want, rtol=1e-5, atol=1e-5)
  assert float(got.count) == float(lengths.sum())
  # pruned params through the unpruned model's program
  small = remove_units(p, g, jnp.array([0, 2, 4]))
  assert activations(rnn.apply, small, [g], xs, lengths, lengths=lengths,
                     program=program)[g.name].gram.shape == (3, 3)


@pytest.mark.parametrize("criterion", ["weight_angle", "taylor", "variance"])
def test_public_prune_runs_every_new_criterion(criterion):
  """pruning.prune with the reviewer's criteria on a two-layer model: the layer shrinks by
  the units asked for and the pruned model still runs; taylor needs the training loss."""
  import optax
  from eegjax import pruning
  from eegjax.errors import ConfigError
  model = MLP((8, 6), 3)
  x = jax.random.normal(KEY, (40, 5))
  y = jnp.arange(40) % 3
  params = model.init(KEY, x)

  def loss_fn(logits):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  if criterion == "taylor":
    with pytest.raises(ConfigError, match="criterion taylor needs loss_fn"):
      pruning.prune(model.apply, params, x, criterion="taylor", max_pruned=2)
  small, record = pruning.prune(model.apply, params, x, criterion=criterion, step=1,
                                max_pruned=2, beyond_thresholds=True,
                                loss_fn=loss_fn if criterion == "taylor" else None)
  sizes = [small["params"][f"Dense_{i}"]["kernel"].shape[1] for i in range(2)]
  assert sizes == [6, 4]
  assert all(r["units_left"] == n for r, n in zip(record.values(), (6, 4)))
  assert model.apply(params, x).shape == MLP((6, 4), 3).apply(small, x).shape
