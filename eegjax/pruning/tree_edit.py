"""Edits of parameter pytrees that surgery shares: a leaf by its key path (NNX states spell
list entries as integers), and the array module of an edit -- jax.numpy when traced
(under jit, vmap or grad), numpy on the host for concrete arrays, whose results go back
as jax arrays (`jax.device_put`: a copy, not a compiled program per operation and shape
as an eager jax.numpy op would be)."""

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.arrays import traced


def tree_key(tree, k):
  """Key `k` of a path (paths are strings) as the tree spells it: an NNX state's list
  entries are integers."""
  if k not in tree and isinstance(k, str) and k.lstrip("-").isdigit() and int(k) in tree:
    return int(k)
  return k


def get_leaf(tree, path):
  for k in path:
    tree = tree[tree_key(tree, k)]
  return tree


def set_leaf(tree, path, value):
  if not path:
    # a host (numpy) edit goes back as a jax array: callers get what the traced path gives
    # (device_put is a copy, not a compiled program)
    return jax.device_put(value) if isinstance(value, np.ndarray) else value
  k = tree_key(tree, path[0])
  return {**tree, k: set_leaf(tree[k], path[1:], value)}


def array_module(*trees):
  """jax.numpy when any array is traced (under jit, vmap or grad), else numpy."""
  return jnp if traced(*trees) else np


def add_at(xp, x, idx, value):
  """x with value added at rows idx (distinct rows); numpy: on a copy."""
  if xp is jnp:
    return x.at[idx].add(value)
  x = np.array(x)
  x[idx] += np.asarray(value, x.dtype)
  return x


def set_at(xp, x, idx, value):
  """x with rows idx set to value; numpy: on a copy."""
  if xp is jnp:
    return x.at[idx].set(value)
  x = np.array(x)
  x[idx] = np.asarray(value, x.dtype)
  return x
