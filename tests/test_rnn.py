import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax.models import ElmanRNN, rnn_from_params, rnn_sizes

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def setup(hidden=6, channels=2, steps=40):
  model = ElmanRNN(hidden_size=hidden, num_classes=3)
  x = jax.random.normal(jax.random.key(1), (3, steps, channels))
  return model, model.init(jax.random.key(0), x), x


def test_matches_a_plain_python_loop():
  model, params, x = setup()
  p = params["params"]
  h = np.zeros((3, 6), np.float32)
  for t in range(x.shape[1]):
    h = np.tanh(np.asarray(x[:, t]) @ p["ih"]["kernel"] + p["ih"]["bias"]
                + h @ p["hh"]["kernel"])
  expected = h @ p["readout"]["kernel"] + p["readout"]["bias"]
  chex.assert_trees_all_close(model.apply(params, x), expected, atol=1e-5)


def test_padding_gives_the_same_logits():
  model, params, x = setup()
  lengths = jnp.array([40, 25, 7])
  padded = x.at[1, 25:].set(99.0).at[2, 7:].set(-99.0)
  full = model.apply(params, padded, lengths=lengths)
  for i, n in enumerate([40, 25, 7]):
    alone = model.apply(params, x[i:i + 1, :n])
    chex.assert_trees_all_close(full[i:i + 1], alone, atol=1e-6)


def test_trajectory_and_sizes():
  model, params, x = setup()
  logits, traj = model.apply(params, x, lengths=jnp.array([40, 10, 5]),
                             return_trajectory=True)
  chex.assert_shape(traj, (3, 40, 6))
  chex.assert_trees_all_close(traj[1, 9], traj[1, 39])      # frozen after the length
  assert rnn_sizes(params) == {"num_inputs": 2, "hidden_size": 6, "num_classes": 3}
  assert rnn_from_params(params).hidden_size == 6


def _reference_logits(params, x, lengths):
  """The Elman RNN by plain autodiff through a scan (no custom backward pass)."""
  p = params["params"]
  def step(h, inputs):
    x_t, t = inputs
    h_new = jnp.tanh(x_t @ p["ih"]["kernel"] + p["ih"]["bias"] + h @ p["hh"]["kernel"])
    return jnp.where((t < lengths)[:, None], h_new, h), None
  h0 = jnp.zeros((x.shape[0], p["hh"]["kernel"].shape[0]))
  h, _ = jax.lax.scan(step, h0, (jnp.swapaxes(x, 0, 1), jnp.arange(x.shape[1])))
  return h @ p["readout"]["kernel"] + p["readout"]["bias"]


@pytest.mark.parametrize("steps", [48, 37])   # 37: padded up to a multiple of the chunk
def test_hand_written_backward_equals_autodiff(steps):
  model = ElmanRNN(7, 3)
  x = jax.random.normal(jax.random.key(0), (5, steps, 2))
  lengths = jnp.array([steps, steps - 9, 1, 20, steps - 1])
  y = jnp.array([0, 1, 2, 1, 0])
  params = model.init(jax.random.key(1), x, lengths=lengths)
  params = jax.tree.map(lambda a: 1.5 * a, params)     # larger weights: saturating units
  onehot = jax.nn.one_hot(y, 3)

  def loss(p, f, x):
    return -jnp.sum(jax.nn.log_softmax(f(p, x)) * onehot)

  ours_f = lambda p, x: model.apply(p, x, lengths=lengths)          # noqa: E731
  ref_f = lambda p, x: _reference_logits(p, x, lengths)               # noqa: E731
  # each gradient one jitted program (eager, every op would compile on its own)
  grad2 = lambda f: jax.jit(lambda p, x: jax.grad(loss, argnums=(0, 2))(p, f, x))  # noqa
  ours, ref = grad2(ours_f)(params, x), grad2(ref_f)(params, x)
  chex.assert_trees_all_close(ours, ref, atol=2e-5, rtol=2e-5)
  # and under vmap over models (how the trainer calls it)
  stacked = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
  g = jax.jit(jax.vmap(lambda p, x: jax.grad(loss)(p, ours_f, x), in_axes=(0, None)))(
      stacked, x)
  g1 = grad2(ref_f)(jax.tree.map(lambda a: a[1], stacked), x)[0]
  chex.assert_trees_all_close(jax.tree.map(lambda a: a[1], g), g1, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_cells_stop_at_each_sequences_length(cell):
  """Unequal lengths (every study test runs equal-length trials): a padded sequence's
  logits equal those of the sequence alone, whatever the padding holds, and the pruning
  statistics of the recurrent state count only the valid steps."""
  from eegjax.models.gated import GatedRNN
  from eegjax.pruning import activations, discover_groups

  model = GatedRNN(hidden_size=5, num_classes=3, cell=cell)
  x = jax.random.normal(jax.random.key(1), (3, 12, 2))
  lengths = jnp.array([12, 7, 3])
  params = model.init(jax.random.key(0), x, lengths)
  padded = x.at[1, 7:].set(50.0).at[2, 3:].set(-50.0)
  full = model.apply(params, padded, lengths)
  for i, n in enumerate([12, 7, 3]):
    alone = model.apply(params, x[i:i + 1, :n], jnp.array([n]))
    chex.assert_trees_all_close(full[i:i + 1], alone, atol=1e-5)
  group = next(g for g in discover_groups(model.apply, params, x, lengths) if g.prunable)
  st = activations(model.apply, params, [group], padded, lengths, lengths=lengths)
  st = st[group.name]
  assert float(st.count) == 12 + 7 + 3                  # valid steps only
  # the same statistics from each sequence cut to its length
  alone = [activations(model.apply, params, [group], x[i:i + 1, :n], jnp.array([n]),
                       lengths=jnp.array([n]))[group.name] for i, n in enumerate([12, 7, 3])]
  chex.assert_trees_all_close(st.total, sum(a.total for a in alone), atol=1e-4)
  chex.assert_trees_all_close(st.gram, sum(a.gram for a in alone), atol=1e-4)
