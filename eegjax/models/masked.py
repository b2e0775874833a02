"""A model whose parameters are held to a fixed 0/1 pattern: a pruned network kept at its
trained width, trained (fine-tuned, or from scratch) as the smaller network it stands for.

Its variables are the wrapped model's plus a "mask" collection, the same tree as "params"
(1 where an entry lives, 0 where a pruned unit's weight was). `apply` multiplies the params
by the mask, behind a stop_gradient, so a masked entry gets a zero gradient: Adam's moments
for it stay zero and so does its update, and an entry that starts at zero stays exactly
zero. A unit whose incoming weights, bias and outgoing weights are all masked contributes
nothing, so the masked network computes, and trains, as the network cut to its living
units does (`eegjax.pruning.zero_units`); every masked variant of one architecture then
has one shape, and any number of them train side by side in one vmapped program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


class Masked:
  """`model` with a "mask" collection applied to its "params" (module docstring). Other
  attributes (`convolutional`, `max_norms`, ...) are the wrapped model's."""

  def __init__(self, model):
    self.model = model

  def __getattr__(self, name):
    if name.startswith("__") or name == "model":
      raise AttributeError(name)
    return getattr(self.model, name)

  def init(self, rngs, *args, **kwargs):
    """The wrapped model's variables and an all-ones mask (every entry living)."""
    variables = self.model.init(rngs, *args, **kwargs)
    return {**variables, "mask": jax.tree.map(jnp.ones_like, variables["params"])}

  def apply(self, variables, *args, **kwargs):
    mask = jax.lax.stop_gradient(variables["mask"])
    inner = {k: v for k, v in variables.items() if k != "mask"}
    inner["params"] = jax.tree.map(lambda p, m: p * m.astype(p.dtype), inner["params"], mask)
    return self.model.apply(inner, *args, **kwargs)


def masked_variables(variables, mask):
  """The Masked model's variables for `variables` (the wrapped model's) and `mask` (a tree
  like variables["params"]): the params multiplied by the mask, so masked entries start at
  zero, and the mask beside them."""
  params = jax.tree.map(lambda p, m: p * m.astype(p.dtype), variables["params"], mask)
  return {**variables, "params": params, "mask": mask}


def unmasked(variables):
  """The wrapped model's variables of Masked `variables`: the params times the mask, the
  mask dropped."""
  out = {k: v for k, v in variables.items() if k != "mask"}
  out["params"] = jax.tree.map(lambda p, m: p * m.astype(p.dtype), variables["params"],
                               variables["mask"])
  return out
