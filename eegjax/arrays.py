"""Which array module an eager edit should use: an array that is traced (under jit, vmap or
grad) needs jax.numpy; concrete arrays are edited in numpy on the host, because an eager
jax.numpy operation compiles an XLA program per operation and shape. `take` picks one
model out of stacked (fold, seed, ...) leaves in one compiled program per tree layout."""

import jax
import jax.numpy as jnp


def traced(*trees) -> bool:
  """Whether any leaf of the trees is a tracer (inside jit, vmap or grad)."""
  return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))


@jax.jit
def _take(tree, index):
  return jax.tree.map(lambda a: a[index], tree)


def take(tree, *index):
  """Every leaf's entry at the leading `index` (`a[f, s]`, `a[f]`): one compiled program
  per tree layout, the index traced, instead of an eager slice (an XLA program) per leaf
  shape. Inside a trace, plain indexing."""
  if traced(tree, index):
    return jax.tree.map(lambda a: a[index], tree)
  return _take(tree, tuple(jnp.int32(i) for i in index))
