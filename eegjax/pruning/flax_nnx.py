"""Flax NNX modules in the engine: the engine works on a pure function of a parameter
pytree, so an NNX module is split (`nnx.split`) into its graph and its state, the state
turned into a plain nested dict, and the function merges a dict back into the graph and
calls the module. Everything else (discovery, prune, surgery, resized_apply) is the same
as for flax.linen:

    from flax import nnx
    apply_fn, params = pruning.from_nnx(model)          # model: an nnx.Module
    small, record = pruning.prune(apply_fn, params, x)
    pruning.update_nnx(model, small)                    # the module now holds them

Every variable of the state travels in the dict (parameters, BatchNorm's running
statistics, RNG counts), so discovery sees them as it sees linen's collections; a module
traced with BatchNorm in training mode is refused as in linen.
"""

from __future__ import annotations

import jax

from eegjax.errors import ConfigError


def _nnx():
  try:
    from flax import nnx
  except ImportError as e:      # an old flax
    raise ConfigError(f"Flax NNX is not available in this flax ({e}); expected flax "
                      ">= 0.8") from None
  return nnx


def from_nnx(module):
  """(apply_fn, params) of an NNX module: params its state as a plain nested dict,
  apply_fn(params, *args, **kwargs) the module called with those values."""
  nnx = _nnx()
  if not isinstance(module, nnx.Module):
    raise ConfigError(f"from_nnx: expected a flax.nnx.Module, got {type(module).__name__} "
                      "(a flax.linen module's apply and params go to the engine directly)")
  graphdef, state = nnx.split(module)

  def apply_fn(params, *args, **kwargs):
    st = jax.tree.map(lambda a: a, state)       # a fresh State; the module is untouched
    nnx.replace_by_pure_dict(st, params)
    return nnx.merge(graphdef, st)(*args, **kwargs)

  to_dict = getattr(nnx, "to_pure_dict", None)
  return apply_fn, (to_dict(state) if to_dict else state.to_pure_dict())


def update_nnx(module, params) -> None:
  """Writes a (pruned) params dict from `from_nnx` back into the module's variables."""
  nnx = _nnx()
  _, state = nnx.split(module)
  nnx.replace_by_pure_dict(state, params)
  nnx.update(module, state)
