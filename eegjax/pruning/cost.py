"""What a model costs, counted from its traced program at any widths: parameters and
multiply-adds, in total and per unit group.

    c = pruning.cost(model.apply, params, x)
    print(c.macs, c.params)          # per example (one pattern of the first input)
    print(c.table())                 # and what each group's width accounts for

The multiply-adds are those of `eegjax.evaluate.cost` (every dot_general and convolution,
grouped and depthwise ones by their groups' share, attention's products of activations
included, a scan's body times its length, a cond's costliest branch, a while loop's body
once), but every size is read from the traced program's axis classes (`trace.Trace`)
rather than from one trace's shapes: the same program counts the model at any pruned
widths without being traced again, which is what lets `prune_to` meet a target in
multiply-adds or parameters.

A group's share is what removing all of its units would save: the parameters and
multiply-adds of every term whose size depends on its width (a layer's kernel and bias,
the next layer's incoming weights, the products they take part in). Shares overlap where
a product involves two groups (a dense layer between two hidden layers), so they do not
add up to the total.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import numpy as np
from jax.extend import core as jcore

from eegjax.evaluate.cost import count_macs
from eegjax.pruning.discover import Program
from eegjax.pruning.resize import Resized


@dataclasses.dataclass(frozen=True)
class GroupCost:
  units: int
  params: int                  # parameters that depend on the group's width
  macs: int                    # multiply-adds per example that depend on it


@dataclasses.dataclass(frozen=True)
class Cost:
  params: int                  # trainable parameters (the "params" collection of linen
                               # variables, else every leaf)
  macs: int                    # multiply-adds per example
  groups: dict                 # group name -> GroupCost (prunable groups)

  def table(self) -> str:
    """The cost as a plain-text table, one row per group."""
    width = max([len(n) for n in self.groups] + [5])
    rows = [f"{'group':<{width}}  {'units':>6}  {'params':>12}  {'multiply-adds':>15}"]
    for name, g in self.groups.items():
      rows.append(f"{name:<{width}}  {g.units:>6}  {g.params:>12,}  {g.macs:>15,}")
    rows.append(f"{'total':<{width}}  {'':>6}  {self.params:>12,}  {self.macs:>15,}")
    return "\n".join(rows)


class Counter:
  """Counts a traced program's parameters and multiply-adds at any sizes."""

  def __init__(self, program: Program):
    self.prog, self.trace, self.dims = program, program.trace, program.trace.dims
    self.atoms = {g.name: self.dims.find(program.atoms[g.name]) for g in program.groups}
    top = {p[0] for p in program.paths}
    self.trainable = [i for i, p in enumerate(program.paths)
                      if "params" not in top or p[0] == "params"]

  def sizes(self, params) -> dict:
    """The axis-class sizes of `params` (a pruned pytree of the traced structure), with
    one pattern of the inputs."""
    leaves = jax.tree.leaves(params)
    inputs = [v.aval for v in self.prog.closed.jaxpr.invars[self.prog.n_params:]]
    table = Resized(self.prog)._table(
        leaves + [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs])
    if self.trace.input_dims and self.trace.input_dims[0]:
      batch = self.dims.find(self.trace.input_dims[0][0])
      if batch not in self.dims.defn:
        table[batch] = 1
    return table

  def with_widths(self, table: dict, widths: dict) -> dict:
    """`table` with the named groups at the given numbers of units."""
    return {**table, **{self.atoms[n]: int(w) for n, w in widths.items()}}

  def count(self, table: dict) -> tuple[int, int]:
    """(parameters, multiply-adds per example) at the sizes of `table`."""
    p, m = self.count_many([table])
    return int(p[0]), int(m[0])

  def report(self, params, groups: Optional[list] = None) -> Cost:
    """The Cost of `params`, with the share of each group named (default: the prunable
    ones whose width the program gives)."""
    table = self.sizes(params)
    names = groups if groups is not None else [g.name for g in self.prog.groups
                                               if g.prunable]
    p, m = self.count_many([table] + [{**table, self.atoms[n]: 0} for n in names])
    out = {n: GroupCost(self.dims.current(self.atoms[n], table, {}), int(p[0] - p[i]),
                        int(m[0] - m[i])) for i, n in enumerate(names, 1)}
    return Cost(int(p[0]), int(m[0]), out)

  def count_many(self, tables: list) -> tuple[np.ndarray, np.ndarray]:
    """`count` at each of several size tables in one walk of the program: every size is a
    vector over the tables ((K,) parameters, (K,) multiply-adds)."""
    memo: dict = {}
    dims = self.dims

    def vec(d):
      r = dims.find(d)
      if r not in memo:
        defn = dims.defn.get(r)
        memo[r] = (np.array([t.get(r, dims.orig[r]) for t in tables], np.int64)
                   if defn is None else
                   sum(math.prod(vec(f) for f in seg) for seg in defn))
      return memo[r]

    def size(path, var, axis):
      if isinstance(var, jcore.Literal):
        return int(var.aval.shape[axis])
      return vec(self.trace.vals[(path, var)].dims[axis])

    def length(here, eqn):
      return vec(self.trace.scan_length[here])

    zero = np.zeros(len(tables), np.int64)
    params = sum((math.prod(vec(d) for d in self.trace.leaf_dims[i]) for i in self.trainable),
                 zero)
    return params, zero + count_macs(self.prog.closed.jaxpr, size, length)


def cost(apply_fn, params, *args, program: Optional[Program] = None, **kwargs) -> Cost:
  """Parameters and multiply-adds per example of apply_fn(params, *args, **kwargs), in
  total and per prunable unit group. For pruned `params`, pass the `program` traced on the
  unpruned model (`Program(apply_fn, params, *args)`): it is counted at the pruned sizes."""
  program = program or Program(apply_fn, params, *args, **kwargs)
  return Counter(program).report(params)
