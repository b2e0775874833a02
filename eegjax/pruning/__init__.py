"""Structural pruning of any Flax / JAX model, by distinctiveness or by baselines.

The engine's vocabulary:

  discover_groups(apply_fn, params, *args)   the model's unit groups, found by tracing
  UnitGroup, Slice                           a group: the parameter axes of its units
  activations(apply_fn, params, groups, *args)  Gram matrices of the groups' activations
  remove_units, zero_units, merge_into, copy_unit   surgery on the params pytree
  resized_apply(apply_fn, params, *args)     run the traced model at pruned sizes
  prune(apply_fn, params, *args, ...)        progressive pruning in one call (a sweep of
                                             one model: `sweep`, the studies' loop)
  prune_to(apply_fn, params, *args, ratio= / target_macs= ...)   a whole model pruned to a
                                             ratio or a cost target at once (`target`)
  cost(apply_fn, params, *args)              parameters and multiply-adds, total and per
                                             group, counted from the traced program
  from_nnx(module), update_nnx(module, p)    a Flax NNX module as (apply_fn, params)

Two axes, varied one at a time: `criteria` (which unit goes: a registry, `register` adds
one) and `compensation` (what becomes of its contribution: none, mean, least_squares,
merge). Lower level: `distinctiveness` (angles, pair choice), `progressive` (one vmappable
step), `sweep` (the resumable, vmapped, fixed-width loop).
"""

from eegjax.pruning.cost import Cost, cost
from eegjax.pruning.discover import Program, discover_groups
from eegjax.pruning.engine import Stats, activations, prune
from eegjax.pruning.flax_nnx import from_nnx, update_nnx
from eegjax.pruning.resize import resized_apply
from eegjax.pruning.target import Report, prune_to
from eegjax.pruning.surgery import (Site, Slice, UnitGroup, copy_unit, drop_units,
                                    merge_into, outgoing_norms, remove_units, zero_units)

__all__ = ["Cost", "Program", "Report", "Site", "Slice", "Stats", "UnitGroup", "activations",
           "copy_unit", "cost", "discover_groups", "drop_units", "from_nnx", "merge_into",
           "outgoing_norms", "prune", "prune_to", "remove_units", "resized_apply",
           "update_nnx", "zero_units"]
