"""What a network costs to run: multiply-adds counted from its traced program (every
dot_general and convolution, nested calls included, a scan's body times its length), and
its parameters."""

from __future__ import annotations

import math

import jax
from jax.extend import core as jcore


def _level(p):
  return p.jaxpr if isinstance(p, jcore.ClosedJaxpr) else p


def _macs(jaxpr) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    name, p = eqn.primitive.name, eqn.params
    if name == "dot_general":
      (lc, _), _ = p["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      total += math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[a] for a in lc)
    elif name == "conv_general_dilated":
      rhs_spec = p["dimension_numbers"].rhs_spec
      kernel = eqn.invars[1].aval.shape
      # each output entry: the window times the input features of its group
      per_out = kernel[rhs_spec[1]] * math.prod(kernel[a] for a in rhs_spec[2:])
      total += math.prod(eqn.outvars[0].aval.shape) * per_out
    elif name == "scan":
      total += p["length"] * _macs(_level(p["jaxpr"]))
    else:
      for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in p and hasattr(_level(p[key]), "eqns"):
          total += _macs(_level(p[key]))
          break
  return total


def multiply_adds(fn, *args) -> int:
  """Multiply-adds of one call fn(*args) (the whole batch of `args`)."""
  return _macs(jax.make_jaxpr(fn)(*args).jaxpr)


def count_trainable(variables) -> int:
  """Trainable parameters: the "params" collection of Flax variables (BatchNorm's running
  statistics and other collections apart), or every leaf of a plain pytree."""
  tree = variables.get("params", variables) if isinstance(variables, dict) else variables
  return int(sum(a.size for a in jax.tree.leaves(tree)))
