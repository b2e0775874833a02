"""Multi-layer perceptron: Dense_0 -> act -> Dense_1 -> act -> ... -> Dense_L (logits).

Layers are named Dense_0..Dense_L in order, so a hidden unit j of layer i is column j of
`Dense_i/kernel`, entry j of `Dense_i/bias` and row j of `Dense_{i+1}/kernel`; the pruning
module relies on that naming.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"sigmoid": nn.sigmoid, "tanh": jnp.tanh, "relu": nn.relu}


class MLP(nn.Module):
  hidden_sizes: Sequence[int]
  num_classes: int
  activation: str = "sigmoid"

  @nn.compact
  def __call__(self, x, return_activations: bool = False):
    act = ACTIVATIONS[self.activation]
    hidden = []
    for i, width in enumerate(self.hidden_sizes):
      x = act(nn.Dense(width, name=f"Dense_{i}")(x))
      hidden.append(x)
    logits = nn.Dense(self.num_classes, name=f"Dense_{len(self.hidden_sizes)}")(x)
    return (logits, hidden) if return_activations else logits


def mlp_sizes(params) -> dict:
  """Architecture of an MLP read from its params alone (so a pruned pytree rebuilds its
  module): input size, hidden sizes and number of classes."""
  p = params.get("params", params)
  layers = sorted(p, key=lambda k: int(k.split("_")[1]))
  kernels = [p[k]["kernel"] for k in layers]
  return {"num_inputs": int(kernels[0].shape[0]),
          "hidden_sizes": tuple(int(k.shape[1]) for k in kernels[:-1]),
          "num_classes": int(kernels[-1].shape[1])}


def mlp_from_params(params, activation: str = "sigmoid") -> MLP:
  s = mlp_sizes(params)
  return MLP(hidden_sizes=s["hidden_sizes"], num_classes=s["num_classes"],
             activation=activation)


def count_params(params) -> int:
  return int(sum(x.size for x in jax.tree.leaves(params)))
