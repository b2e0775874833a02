import chex
import jax
import jax.numpy as jnp
import numpy as np

from eegjax.models import ElmanRNN, rnn_from_params, rnn_sizes


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
