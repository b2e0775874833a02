"""Which array module an eager edit should use: an array that is traced (under jit, vmap or
grad) needs jax.numpy; concrete arrays are edited in numpy on the host, because an eager
jax.numpy operation compiles an XLA program per operation and shape."""

import jax


def traced(*trees) -> bool:
  """Whether any leaf of the trees is a tracer (inside jit, vmap or grad)."""
  return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))
