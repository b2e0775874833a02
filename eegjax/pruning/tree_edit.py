"""Edits of parameter pytrees that surgery shares: a leaf by its key path in any pytree
(nested dicts, NNX states, which spell list entries as integers, lists, dataclasses,
Equinox modules), and the array module of an edit -- jax.numpy when traced
(under jit, vmap or grad), numpy on the host for concrete arrays, whose results go back
as jax arrays (`jax.device_put`: a copy, not a compiled program per operation and shape
as an eager jax.numpy op would be)."""

import contextlib
import contextvars
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.arrays import traced


def key_name(k) -> str:
  """A path key as the engine spells it: a dict key, an attribute name or a list index,
  as a string."""
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def tree_key(tree, k):
  """Key `k` of a path (paths are strings) as the tree spells it: an NNX state's list
  entries are integers."""
  if k not in tree and isinstance(k, str) and k.lstrip("-").isdigit() and int(k) in tree:
    return int(k)
  return k


def _children(node):
  """Any other pytree node (a list, a dataclass, an Equinox module): its children by name
  and how to rebuild it."""
  flat, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
  return [key_name(path[0]) for path, _ in flat], [x for _, x in flat], treedef


def get_leaf(tree, path):
  for k in path:
    if isinstance(tree, Mapping):
      tree = tree[tree_key(tree, k)]
    else:
      names, kids, _ = _children(tree)
      tree = kids[names.index(k)]
  return tree


_HOST = contextvars.ContextVar("eegjax_host_edits", default=False)


@contextlib.contextmanager
def on_host():
  """Within it, host edits stay numpy arrays (a caller that makes many edits puts the
  result on the device once, `jax.device_put(tree)`, instead of once an edit)."""
  token = _HOST.set(True)
  try:
    yield
  finally:
    _HOST.reset(token)


def set_leaf(tree, path, value):
  if not path:
    # a host (numpy) edit goes back as a jax array: callers get what the traced path gives
    # (device_put is a copy, not a compiled program)
    return (jax.device_put(value) if isinstance(value, np.ndarray) and not _HOST.get()
            else value)
  if isinstance(tree, Mapping):
    k = tree_key(tree, path[0])
    return {**tree, k: set_leaf(tree[k], path[1:], value)}
  names, kids, treedef = _children(tree)
  i = names.index(path[0])
  kids[i] = set_leaf(kids[i], path[1:], value)
  return jax.tree.unflatten(treedef, kids)


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
