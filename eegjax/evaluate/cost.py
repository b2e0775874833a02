"""What a network costs to run: multiply-adds counted from its traced program (every
dot_general and convolution, nested calls included, a scan's body times its length), and
its parameters. `eegjax.pruning.cost` counts the same equations at pruned sizes."""

from __future__ import annotations

import functools
import math

import jax
import numpy as np
from jax.extend import core as jcore


def _level(p):
  return p.jaxpr if isinstance(p, jcore.ClosedJaxpr) else p


_CALL_KEYS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def product_axes(eqn):
  """[(operand, axis)] whose sizes multiply to the multiply-adds of one product
  equation (operand -1: the output), or None for any other equation. dot_general: every
  output entry sums over the contracted axes of the left operand. Convolution: every
  output entry sums over the kernel's window and its input features (per group, so a
  grouped or depthwise convolution counts its groups' share only)."""
  name, p = eqn.primitive.name, eqn.params
  out = [(-1, a) for a in range(len(eqn.outvars[0].aval.shape))]
  if name == "dot_general":
    (lc, _), _ = p["dimension_numbers"]
    return out + [(0, a) for a in lc]
  if name == "conv_general_dilated":
    rhs_spec = p["dimension_numbers"].rhs_spec
    return out + [(1, rhs_spec[1])] + [(1, a) for a in rhs_spec[2:]]
  return None


def count_macs(jaxpr, size, length, path=()) -> int:
  """Multiply-adds of `jaxpr`: every dot_general and convolution, nested calls included, a
  scan's body times its length, a while loop's body once (its trip count is not in the
  program) and a cond's costliest branch. size(path, var, axis) and length(path of the
  scan, eqn) give the sizes: the traced ones, or those of a resized program. Paths name
  nested levels as `eegjax.pruning.trace` does (the equation's index, then "body" for a
  while loop's body or the branch number for a cond)."""
  total = 0
  for i, eqn in enumerate(jaxpr.eqns):
    here, name, p = path + (i,), eqn.primitive.name, eqn.params
    axes = product_axes(eqn)
    if axes is not None:
      total += math.prod(
          size(path, eqn.outvars[0] if k < 0 else eqn.invars[k], a) for k, a in axes)
    elif name == "scan":
      total += length(here, eqn) * count_macs(_level(p["jaxpr"]), size, length, here)
    elif name == "while":
      total += count_macs(_level(p["body_jaxpr"]), size, length, here + ("body",))
    elif name == "cond":
      branches = [count_macs(_level(b), size, length, here + (j,))
                  for j, b in enumerate(p["branches"])]
      total += (functools.reduce(np.maximum, branches)      # counts at several sizes
                if isinstance(branches[0], np.ndarray) else max(branches))
    else:
      key = next((k for k in _CALL_KEYS if k in p and hasattr(_level(p[k]), "eqns")), None)
      if key is not None:
        total += count_macs(_level(p[key]), size, length, here)
  return total


def _traced_size(path, var, axis) -> int:
  return int(var.aval.shape[axis])


def multiply_adds(fn, *args) -> int:
  """Multiply-adds of one call fn(*args) (the whole batch of `args`)."""
  return count_macs(jax.make_jaxpr(fn)(*args).jaxpr, _traced_size,
                    lambda path, eqn: eqn.params["length"])


def count_trainable(variables) -> int:
  """Trainable parameters: the "params" collection of Flax variables (BatchNorm's running
  statistics and other collections apart), or every leaf of a plain pytree."""
  tree = variables.get("params", variables) if isinstance(variables, dict) else variables
  return int(sum(a.size for a in jax.tree.leaves(tree)))
