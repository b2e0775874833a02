import chex
import jax
import jax.numpy as jnp
import pytest

from eegjax.models import MLP, count_params, mlp_from_params, mlp_sizes

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def test_shapes_names_and_activations():
  model = MLP(hidden_sizes=(7, 5), num_classes=3)
  params = model.init(jax.random.key(0), jnp.ones((4, 11)))
  assert set(params["params"]) == {"Dense_0", "Dense_1", "Dense_2"}
  logits, hidden = model.apply(params, jnp.ones((4, 11)), return_activations=True)
  chex.assert_shape(logits, (4, 3))
  chex.assert_shape(hidden, [(4, 7), (4, 5)])
  assert float(jnp.min(hidden[0])) > 0 and float(jnp.max(hidden[0])) < 1   # sigmoid
  assert count_params(params) == 11 * 7 + 7 + 7 * 5 + 5 + 5 * 3 + 3


def test_sizes_from_params_rebuild_module():
  model = MLP(hidden_sizes=(9,), num_classes=2, activation="tanh")
  params = model.init(jax.random.key(1), jnp.ones((1, 4)))
  assert mlp_sizes(params) == {"num_inputs": 4, "hidden_sizes": (9,), "num_classes": 2}
  # a "pruned" pytree: drop hidden units 3..8
  p = params["params"]
  small = {"params": {"Dense_0": {"kernel": p["Dense_0"]["kernel"][:, :3],
                                  "bias": p["Dense_0"]["bias"][:3]},
                      "Dense_1": {"kernel": p["Dense_1"]["kernel"][:3],
                                  "bias": p["Dense_1"]["bias"]}}}
  rebuilt = mlp_from_params(small, activation="tanh")
  assert rebuilt.hidden_sizes == (3,)
  chex.assert_shape(rebuilt.apply(small, jnp.ones((2, 4))), (2, 2))
