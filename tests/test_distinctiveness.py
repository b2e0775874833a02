import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax.errors import ConfigError
from eegjax.pruning.distinctiveness import (ANGLE_RESOLUTION_DEG, angle_matrix, angles_from_gram,
                                            check_thresholds, complementary_mask, gram,
                                            min_angle, similar_mask)

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def test_hand_computed_angles():
  # columns = units over 2 patterns, already centred (centre 0)
  acts = jnp.array([[1.0, 1.0, -1.0, 0.0],
                    [0.0, 1.0, 0.0, 0.0]])
  ang = angle_matrix(acts, centre=0.0)
  np.testing.assert_allclose(ang[0, 1], 45.0, atol=1e-4)
  np.testing.assert_allclose(ang[0, 2], 180.0, atol=1e-4)
  np.testing.assert_allclose(ang[1, 2], 135.0, atol=1e-4)
  np.testing.assert_allclose(ang[3, :3], 90.0)          # a constant unit has no direction
  chex.assert_trees_all_close(ang, ang.T)


def test_sigmoid_centring():
  acts = jnp.array([[0.9, 0.1], [0.1, 0.9]])           # centred: (0.4,-0.4), (-0.4, 0.4)
  np.testing.assert_allclose(angle_matrix(acts)[0, 1], 180.0, atol=1e-4)


def test_equal_gram_entries_give_exactly_0_and_180_degrees():
  """A unit and its duplicate (equal Gram entries) are at exactly 0 degrees, and a unit and
  its negation at exactly 180, for any squared norm: the cosine is one rounding, g_uv /
  sqrt(g_uu * g_vv). With sqrt(g_uu) * sqrt(g_vv) it came out 0.0198 for 0.9788746 on an
  AVX2 CPU, a float32 step that arccos magnifies (0 on AVX-512)."""
  g = jnp.concatenate([jnp.array([0.9788746, 8.406083, 1e-6, 3e20], jnp.float32),
                       jax.random.uniform(jax.random.key(0), (200,), minval=1e-3, maxval=1e4)])
  for sign, expect in ((1.0, 0.0), (-1.0, 180.0)):
    grams = jnp.stack([jnp.stack([g, sign * g]), jnp.stack([sign * g, g])]).transpose(2, 0, 1)
    ang = jax.vmap(angles_from_gram)(grams)
    assert np.asarray(ang[:, 0, 1] == expect).all(), np.asarray(ang[:, 0, 1])


def test_duplicated_units_are_within_float32_resolution_of_0_and_180():
  """Duplicates and mirror images in real activations: the Gram matrix's sums round
  differently, so the angle is off the end by at most a few float32 steps of the cosine
  (ANGLE_RESOLUTION_DEG = 0.0198 degrees is one)."""
  for s in range(20):                       # one shape: one compiled program
    a = jax.random.uniform(jax.random.key(s), (120, 5))
    ang = np.asarray(angle_matrix(jnp.concatenate([a, a[:, :2], 1.0 - a[:, 2:3]], axis=1)),
                     np.float64)
    assert np.all(np.array([ang[0, 5], ang[1, 6], 180.0 - ang[2, 7]]) <= 2 * ANGLE_RESOLUTION_DEG)
    assert 1.0 - np.cos(np.radians(ang[0, 5])) <= 4 * 2.0 ** -24


def test_gram_accumulates_in_chunks_and_ignores_padding():
  acts = jax.random.uniform(jax.random.key(0), (100, 7))
  whole = gram(acts)
  chunks = gram(acts[:37]) + gram(acts[37:])
  chex.assert_trees_all_close(whole, chunks, rtol=1e-5)
  padded = jnp.concatenate([acts, jnp.full((20, 7), 0.99)])
  w = jnp.r_[jnp.ones(100), jnp.zeros(20)]
  chex.assert_trees_all_close(gram(padded, weights=w), whole, rtol=1e-5)


def test_pairs_and_min_angle_respect_living_units():
  ang = jnp.array([[0.0, 10.0, 170.0], [10.0, 0.0, 90.0], [170.0, 90.0, 0.0]])
  assert float(min_angle(ang)) == 10.0
  alive = jnp.array([True, False, True])
  assert float(min_angle(ang, alive)) == 170.0
  assert similar_mask(ang).sum() == 2 and similar_mask(ang, alive).sum() == 0
  assert complementary_mask(ang).sum() == 2
  assert float(min_angle(ang, jnp.array([True, False, False]))) == np.inf


def test_thresholds():
  check_thresholds(15, 165)
  for bad in [(0, 165), (15, 180), (100, 90)]:
    with pytest.raises(ConfigError, match="expected 0 < similar_deg < complementary_deg < 180"):
      check_thresholds(*bad)


def test_activations_over_chunks_of_an_mlp_layer_equal_the_whole():
  """The engine's chunked Gram matrix (eegjax.pruning.activations) equals the plain one."""
  from eegjax.models import MLP
  from eegjax.pruning import Program, activations
  model = MLP(hidden_sizes=(12, 5), num_classes=3)
  x = jax.random.normal(jax.random.key(3), (1000, 8))
  params = model.init(jax.random.key(0), x)
  acts = model.apply(params, x, return_activations=True)[1][1]
  prog = Program(model.apply, params, x)
  group = [g for g in prog.groups if g.prunable][1]
  chunked = jax.jit(lambda xx: activations(model.apply, params, [group], xx, chunk=300,
                                           program=prog)[group.name].gram)(x)  # 300 pads
  chex.assert_trees_all_close(chunked, gram(acts), rtol=1e-4, atol=1e-5)
  w = (jnp.arange(1000) < 640).astype(jnp.float32)
  got = activations(model.apply, params, [group], x, weights=w, chunk=256, program=prog)
  chex.assert_trees_all_close(got[group.name].gram, gram(acts[:640]), rtol=1e-4, atol=1e-5)


def test_activations_of_an_rnn_count_only_valid_steps_of_chosen_sequences():
  from eegjax.models import ElmanRNN
  from eegjax.pruning import Program, activations
  model = ElmanRNN(hidden_size=5, num_classes=2)
  x = jax.random.normal(jax.random.key(0), (7, 40, 2))
  lengths = jnp.array([40, 10, 25, 1, 40, 33, 8])
  w = jnp.array([1, 1, 1, 1, 0, 1, 1], jnp.float32)
  params = model.init(jax.random.key(1), x)
  prog = Program(model.apply, params, x, lengths)
  (group,) = [g for g in prog.groups if g.prunable]
  got = jax.jit(lambda xx, ll, ww: activations(
      model.apply, params, [group], xx, ll, weights=ww, lengths=ll, chunk=3,
      program=prog)[group.name].gram)(x, lengths, w)
  expected = np.zeros((5, 5))
  for i in range(7):
    if w[i]:
      h = np.asarray(model.apply(params, x[i:i + 1, :lengths[i]], return_trajectory=True)[1][0])
      expected += h.T @ h
  chex.assert_trees_all_close(got, expected, rtol=1e-4, atol=1e-5)
