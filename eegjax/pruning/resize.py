"""Runs a traced program on parameters of other sizes (a pruned network) and captures
values inside it (activations).

Flax modules check their parameters against the sizes written in the module
(`nn.Dense(20)`, `nn.GRUCell(16)`), so a pruned pytree cannot go back through `apply_fn`.
`resized_apply` re-evaluates the traced jaxpr instead: every axis's size is recomputed from
the axis classes of `trace.Trace` and the actual shapes of the parameters and inputs, and
the few primitives that carry sizes in their parameters (broadcast_in_dim, reshape, iota,
slice, split, dynamic_slice, gather, scan lengths) are bound with the new ones, and a mean
over resized axes (a reduce_sum divided by its count: jnp.mean, LayerNorm's statistics)
divides by the count at the new sizes. Nested
jit calls and custom_jvp / custom_vjp calls are evaluated through their primal; scans,
while loops and conds through lax. Under jit this compiles to the same program a module of
the smaller sizes would give.

The input batch size may change too (activations are collected in chunks); other input
axes must keep their traced sizes.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import jax.numpy as jnp
from jax.extend import core as jcore

from eegjax.errors import ConfigError
from eegjax.pruning.dims import solve_products
from eegjax.pruning.trace import CALLS, _level_jaxpr


# shape-only operations a sum passes through on its way to its division (keepdims)
_KEEPS_SUM = ("broadcast_in_dim", "reshape", "squeeze", "expand_dims", "convert_element_type")


class Resized:
  """Evaluator of a `discover.Program` at new sizes."""

  def __init__(self, prog):
    self.prog, self.trace, self.dims = prog, prog.trace, prog.trace.dims

  def __call__(self, params, *args, capture=()):
    """(outputs, {capture key: value}). A capture inside a scan body comes stacked over
    the scan's steps (leading axis)."""
    p_leaves = jax.tree.leaves(params)
    a_leaves = jax.tree.leaves(args)
    if len(p_leaves) != self.prog.n_params or len(a_leaves) != self.prog.n_args:
      raise ConfigError(f"resized_apply: expected {self.prog.n_params} parameter arrays and "
                        f"{self.prog.n_args} input arrays (the traced structure), got "
                        f"{len(p_leaves)} and {len(a_leaves)}")
    flat = p_leaves + a_leaves
    self.table, self.memo, self.sums = self._table(flat), {}, {}
    self.capture, self.captured = set(capture), {}
    closed = self.prog.closed
    outs = self.run(closed.jaxpr, closed.consts, (), flat)
    missing = self.capture - set(self.captured)
    if missing:
      raise ConfigError(f"resized_apply: could not capture {len(missing)} value(s) (inside a "
                        "while loop or nested scan)")
    return jax.tree.unflatten(self.prog.out_def, outs), self.captured

  def _table(self, flat):
    dims, table = self.dims, {}
    names = ["/".join(p) for p in self.prog.paths] + [
        f"input {i}" for i in range(self.prog.n_args)]
    all_dims = self.trace.leaf_dims + self.trace.input_dims
    composite = []
    for x, ds, name in zip(flat, all_dims, names):
      shape = jnp.shape(x)
      if len(shape) != len(ds):
        raise ConfigError(f"resized_apply: {name} has {len(shape)} axes, the traced model "
                          f"{len(ds)}")
      for a, (d, n) in enumerate(zip(ds, shape)):
        r = dims.find(d)
        if r in dims.defn:
          composite.append((r, n, name, a))
        elif table.setdefault(r, n) != n:
          raise ConfigError(f"resized_apply: {name} axis {a} has {n} entries but another "
                            f"array gives that axis {table[r]} (pruned inconsistently?)")
    batch = dims.find(self.trace.input_dims[0][0]) if self.trace.input_dims and \
        self.trace.input_dims[0] else None
    _solve_factors(dims, table, composite, batch)
    memo = {}
    for r, n, name, a in composite:
      want = dims.current(r, table, memo)
      if want != n:
        raise ConfigError(f"resized_apply: {name} axis {a} has {n} entries; the sizes of "
                          f"the layers feeding it give {want}")
    return table

  def shape(self, path, v):
    return tuple(self.dims.current(d, self.table, self.memo)
                 for d in self.trace.vals[(path, v)].dims)

  def run(self, jaxpr, consts, path, args):
    env = {}
    for v, x in zip(jaxpr.constvars, consts):
      env[v] = x
    for v, x in zip(jaxpr.invars, args):
      env[v] = x

    def read(v):
      return v.val if isinstance(v, jcore.Literal) else env[v]

    for i, eqn in enumerate(jaxpr.eqns):
      here = path + (i,)
      outs = self.eqn(eqn, [read(v) for v in eqn.invars], path, here)
      if eqn.primitive.name == "reduce_sum":
        self._count_sum(eqn, path)
      elif (eqn.primitive.name in _KEEPS_SUM and self.sums
            and not isinstance(eqn.invars[0], jcore.Literal)
            and (path, eqn.invars[0]) in self.sums):
        self.sums[(path, eqn.outvars[0])] = self.sums[(path, eqn.invars[0])]
      if not eqn.primitive.multiple_results and eqn.primitive.name not in CALLS and \
          eqn.primitive.name not in ("scan", "while", "cond"):
        outs = [outs]
      for j, (v, x) in enumerate(zip(eqn.outvars, outs)):
        if isinstance(v, jcore.DropVar):
          continue
        want = self.shape(path, v)
        if tuple(jnp.shape(x)) != want:
          raise ConfigError(f"resized_apply: {eqn.primitive.name} gave shape "
                            f"{tuple(jnp.shape(x))} where the resized program expects {want}")
        env[v] = x
        if (path, i, j) in self.capture:
          self.captured[(path, i, j)] = x
    return [read(v) for v in jaxpr.outvars]

  def _count_sum(self, eqn, path):
    """Remembers how many entries a reduce_sum added up, and over which traced axes, so a
    division of it by that count (a mean: jnp.mean, LayerNorm's statistics) divides by
    the count at the new sizes (`_mean_count`)."""
    dims = self.trace.vals[(path, eqn.invars[0])].dims
    axes = eqn.params["axes"]
    old = math.prod(eqn.invars[0].aval.shape[a] for a in axes)
    self.sums[(path, eqn.outvars[0])] = (old, [dims[a] for a in axes])

  def _mean_count(self, eqn, ins, path):
    """`div(sum, count)` where sum is a reduce_sum over `count` entries at the traced
    sizes: the count at the new sizes (else the divisor as it is)."""
    num, den = eqn.invars
    if (not isinstance(den, jcore.Literal) or isinstance(num, jcore.Literal)
        or (path, num) not in self.sums):
      return ins[1]
    old, dims = self.sums[(path, num)]
    if np.ndim(den.val) != 0 or float(den.val) != old:
      return ins[1]
    new = math.prod(self.dims.current(d, self.table, self.memo) for d in dims)
    return ins[1] if new == old else np.asarray(new, np.asarray(den.val).dtype)

  def eqn(self, eqn, ins, path, here):
    name, p = eqn.primitive.name, dict(eqn.params)
    if name == "div":
      ins = [ins[0], self._mean_count(eqn, ins, path)]
    if name in CALLS and CALLS[name] in p:
      jaxpr, consts = _level_jaxpr(p[CALLS[name]])
      return self.run(jaxpr, consts, here, ins[len(ins) - len(jaxpr.invars):])
    if name == "scan":
      return self.scan(eqn, ins, here)
    if name == "while":
      return self.while_(eqn, ins, here)
    if name == "cond":
      def branch(j, b):
        return lambda *ops: self.run(*_level_jaxpr(b), here + (j,), list(ops))
      return jax.lax.switch(ins[0], [branch(j, b) for j, b in enumerate(p["branches"])],
                            *ins[1:])
    outs = [v for v in eqn.outvars]
    new = [self.shape(path, v) if not isinstance(v, jcore.DropVar) else tuple(v.aval.shape)
           for v in outs]
    old = [tuple(v.aval.shape) for v in outs]
    in_old = [tuple(getattr(v.aval, "shape", ())) for v in eqn.invars]
    if new == old and [tuple(jnp.shape(x)) for x in ins] == in_old:
      return eqn.primitive.bind(*ins, **p)
    if name == "broadcast_in_dim":
      p["shape"] = new[0]
      p["sharding"] = None
    elif name == "reshape":
      p["new_sizes"], p["dimensions"] = new[0], None
    elif name in ("iota", "random_bits"):
      p["shape"] = new[0]
    elif name == "dynamic_slice":
      p["slice_sizes"] = new[0]
    elif name == "split":
      p["sizes"] = tuple(s[p["axis"]] for s in new)
    elif name == "slice":
      self._slice(p, eqn, path)
    elif name == "conv_general_dilated" and here in self.trace.conv_groups:
      p["feature_group_count"] = self.dims.current(self.trace.conv_groups[here], self.table,
                                                   self.memo)
    elif name == "gather":
      p["slice_sizes"] = tuple(
          n if s == o else s for s, o, n in zip(p["slice_sizes"], in_old[0],
                                                jnp.shape(ins[0])))
    return eqn.primitive.bind(*ins, **p)

  def _slice(self, p, eqn, path):
    dims = self.trace.vals[(path, eqn.invars[0])].dims
    start, limit = list(p["start_indices"]), list(p["limit_indices"])
    for a, d in enumerate(dims):
      bounds = self.dims.segment_bounds(d, self.table, self.memo)
      start[a], limit[a] = _move(start[a], bounds), _move(limit[a], bounds)
    p["start_indices"], p["limit_indices"] = tuple(start), tuple(limit)

  def scan(self, eqn, ins, here):
    p = eqn.params
    body, consts = _level_jaxpr(p["jaxpr"])
    nc, ncar = p["num_consts"], p["num_carry"]
    inside = sorted((k for k in self.capture if k[0][:len(here)] == here), key=str)

    def step(carry, xs):
      saved, self.captured = self.captured, {}
      outs = self.run(body, consts, here, list(ins[:nc]) + list(carry) + list(xs))
      got, self.captured = self.captured, saved
      return outs[:ncar], outs[ncar:] + [got[k] for k in inside]

    length = self.dims.current(self.trace.scan_length[here], self.table, self.memo)
    carry, ys = jax.lax.scan(step, list(ins[nc:nc + ncar]), list(ins[nc + ncar:]),
                             length=length, reverse=p["reverse"], unroll=p["unroll"])
    n_ys = len(ys) - len(inside)
    for k, v in zip(inside, ys[n_ys:]):
      self.captured[k] = v
    return list(carry) + list(ys[:n_ys])

  def while_(self, eqn, ins, here):
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond = lambda c: self.run(*_level_jaxpr(p["cond_jaxpr"]), here + ("cond",),  # noqa
                              list(ins[:cn]) + list(c))[0]
    body = lambda c: self.run(*_level_jaxpr(p["body_jaxpr"]), here + ("body",),  # noqa
                              list(ins[cn:cn + bn]) + list(c))
    return jax.lax.while_loop(cond, body, list(ins[cn + bn:]))


def _solve_factors(dims, table, composite, batch=None) -> None:
  """Sizes of atoms that no array holds on an axis of their own (a grouped convolution's
  per-group filters, attention heads inside a fused kernel), solved from the axes laid
  out as sums of products (`dims.solve_products`). Atoms that are never pruned (pinned by
  the data or blocked) keep their traced size, except the patterns' axis `batch`."""
  equations = [(dims.expand(r), n) for r, n, _, _ in composite]
  atoms = {dims.find(f) for segs, _ in equations for seg in segs for f in seg}
  fixed = {a for a in atoms if a not in table and a != batch and
           (a in dims.pins or a in dims.blocks)}
  key = lambda a: ("dim", a)             # noqa: E731 - an atom, not a fixed size
  known = {key(a): dims.orig[a] for a in fixed}
  known.update({key(a): v for a, v in table.items()})
  solved = solve_products([([[key(dims.find(f)) for f in seg] for seg in segs], n)
                           for segs, n in equations], known)
  table.update({k[1]: v for k, v in solved.items() if k[1] not in fixed})


def _move(pos, bounds):
  """Position `pos` of an axis laid out as `bounds` [(old start, old size, new start,
  new size)] mapped to the resized axis: segment boundaries move with the segments; a
  position inside a segment moves only if that segment kept its size."""
  for o_start, o_size, n_start, n_size in bounds:
    if pos == o_start:
      return n_start
    if o_start < pos < o_start + o_size:
      if o_size != n_size:
        raise ConfigError("resized_apply: a slice cuts inside an axis whose size changed")
      return n_start + pos - o_start
  return sum(b[3] for b in bounds) if bounds else pos


def resized_apply(apply_fn, params, *example_args, **kwargs):
  """A function f(new_params, *args) that runs apply_fn's traced computation (traced
  with `params` and `example_args`) on parameters of any pruned size; `args` may have
  another batch size. kwargs are fixed at trace time. The function is jitted: the sizes it
  runs at are read from the arrays' shapes alone, so each new set of shapes compiles one
  program (rather than one per operation, as evaluating the equations eagerly would)."""
  from eegjax.pruning.discover import Program
  ev = Resized(Program(apply_fn, params, *example_args, **kwargs))
  return jax.jit(lambda new_params, *args: ev(new_params, *args)[0])
