"""Structural surgery on parameter pytrees: removing, zeroing, merging and copying hidden
units of any model whose units are described as a `UnitGroup` (usually found by
`eegjax.pruning.discover_groups`).

A hidden unit is a set of slices across the pytree: its *incoming* slices (the weights,
bias and other per-unit parameters that compute it) and its *outgoing* slices (the weights
through which it acts). A slice is a parameter axis and, when the unit's entries on that
axis are not simply index u, their layout: segments laid end to end, each a row-major
product of factors (e.g. after a flatten, channel c of a (5, 5, C) map is rows
c, C + c, 2C + c, ... of the next kernel; after a concatenation, a unit sits at an offset).

Removing units keeps the other entries of every slice. Merging unit d into unit k adds
c times d's outgoing entries to k's and, for each outgoing slice that feeds a layer with a
bias, shifts that bias by `centre * (1 - c) * (d's outgoing entries summed over all but the
output axis)`. Why: if d's centred activation is c times k's, a_d = c a_k + centre (1 - c),
so d's contribution a_d w_d equals c a_k w_d + centre (1 - c) w_d. With c = 1 (the study's
rule) there is no shift, and the merge is exact whenever d and k have equal activations,
gated recurrent units included. It is exact for c != 1 only for collinear activations of a
unit that acts linearly on the next layer (dense; a convolution's shift is exact away from
zero-padded borders); through a normalisation layer, or when units are merely similar, it
is an approximation, and the group's `notes` say where the tracer saw a reduction over
the units.

Paths are key paths from the root of the params pytree, e.g.
("params", "Dense_0", "kernel"). All functions accept traced unit indices of static count,
so they work under jit and vmap. Called on concrete arrays (outside jit and vmap), the
edits run in numpy on the host and the edited leaves go back as jax arrays of the same
dtype: one XLA program per operation and shape would cost far more than the edit.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence, Union

import jax.numpy as jnp
import numpy as np

from eegjax.errors import ConfigError
from eegjax.pruning.dims import solve_products
from eegjax.pruning.tree_edit import add_at, array_module, get_leaf, set_at, set_leaf

Factor = Union[int, str]        # a fixed size, or the name of a unit group (its size)


@dataclasses.dataclass(frozen=True)
class Slice:
  """One parameter axis that a group's units index."""
  path: tuple[str, ...]
  axis: int
  segments: Optional[tuple[tuple[Factor, ...], ...]] = None   # None: entry u is unit u
  # outgoing: (bias path, output axis[, -1.0 when the value is subtracted: BatchNorm's
  # running mean]) where a shift of the next layer's output goes
  bias: Optional[tuple] = None


@dataclasses.dataclass(frozen=True)
class Site:
  """Where a group's activation vectors are read in the traced program."""
  key: tuple                    # (level path, equation, output): the value captured; the
                                # same in every trace of the model at these shapes
  axis: int                     # the unit axis of that value
  batch_axis: Optional[int]     # the axis of the patterns (input 0's leading axis)
  scan: Optional[tuple]         # a recurrent state: the scan it is carried by
  description: str
  # the axis as a row-major product (a grouped convolution's (groups, filters) channels):
  # its factors as in Slice.segments; a unit's activation is then every entry of its own
  # factor, the other factors joining the patterns. None: entry u of the axis is unit u.
  product: Optional[tuple[Factor, ...]] = None


@dataclasses.dataclass(frozen=True)
class UnitGroup:
  """The hidden units of one layer (or of coupled layers), as slices of the pytree."""
  incoming: tuple[Slice, ...]
  outgoing: tuple[Slice, ...]
  centre: float = 0.0                       # activation of a "silent" unit
  name: str = ""
  activation: Optional[Site] = None
  prunable: bool = True
  reason: str = ""
  notes: tuple[str, ...] = ()
  probes: tuple[tuple[str, tuple[str, ...], int], ...] = ()   # (group name, path, axis)
  # layouts of other groups' axes that size the factors no axis holds alone (not cut)
  related: tuple[Slice, ...] = ()
  fixed: tuple[tuple[str, int], ...] = ()   # (name, size) of a group never pruned

  def size(self, params) -> int:
    return self.sizes(params)[self.name]

  def sizes(self, params) -> dict[str, int]:
    """Current sizes of this group and of every group its layouts refer to: read from an
    axis that holds only that group (the probes), or solved from the axes laid out as sums
    of products (`dims.solve_products`: a grouped convolution's per-group filters, the
    heads of a fused query-key-value kernel)."""
    out = {name: int(get_leaf(params, path).shape[axis]) for name, path, axis in self.probes}
    out.update(self.fixed)
    if self.name not in out:
      s = next((s for s in self.incoming + self.outgoing if s.segments is None), None)
      if s is not None:
        out[self.name] = int(get_leaf(params, s.path).shape[s.axis])
    own = [s for s in self.incoming + self.outgoing if s.segments is not None]
    wanted = {f for s in own for seg in s.segments for f in seg
              if isinstance(f, str)} | {self.name}
    equations = [(s.segments, int(get_leaf(params, s.path).shape[s.axis]))
                 for s in own + list(self.related)]
    out = solve_products(equations, out)
    if wanted - set(out):
      raise ConfigError(f"unit group {self.name!r}: no parameter axis gives the size of "
                        f"{sorted(wanted - set(out))}")
    return out

  def slices(self):
    """Every distinct slice, incoming first."""
    seen, out = set(), []
    for s in self.incoming + self.outgoing:
      if (s.path, s.axis) not in seen:
        seen.add((s.path, s.axis))
        out.append(s)
    return out

  def check(self):
    if not self.prunable:
      raise ConfigError(f"unit group {self.name!r} cannot be pruned: {self.reason}")


def _layout(s: Slice, group: UnitGroup, sizes: dict):
  """[(offset, factor sizes, position of the group's factor or None)] of a slice's axis."""
  if s.segments is None:
    return [(0, (sizes[group.name],), 0)]
  out, offset = [], 0
  for seg in s.segments:
    dims = tuple(sizes[f] if isinstance(f, str) else int(f) for f in seg)
    pos = seg.index(group.name) if group.name in seg else None
    out.append((offset, dims, pos))
    offset += math.prod(dims)
  return out


def _unit_index(s, group, sizes, units, xp=jnp):
  """Axis entries of `units` (traced ints, (n,)) on slice s: (n, positions) int array."""
  cols = []
  for offset, dims, pos in _layout(s, group, sizes):
    if pos is None:
      continue
    grid = offset + np.arange(math.prod(dims)).reshape(dims)
    grid = np.moveaxis(grid, pos, 0).reshape(dims[pos], -1)
    cols.append(xp.asarray(grid)[units])
  return xp.concatenate(cols, axis=1)


def _kept_index(s, group, sizes, keep, xp=jnp):
  """Axis entries that remain when only units `keep` remain."""
  parts = []
  for offset, dims, pos in _layout(s, group, sizes):
    grid = offset + np.arange(math.prod(dims)).reshape(dims)
    parts.append(xp.asarray(grid.ravel()) if pos is None else
                 xp.take(xp.asarray(grid), keep, axis=pos).ravel())
  return xp.concatenate(parts)


def remove_units(params, group: UnitGroup, keep, xp=None):
  """Keeps only units `keep` (int array of static length, ascending) of `group`. xp: the
  array module (default: numpy for concrete arrays, see the module doc)."""
  group.check()
  sizes = group.sizes(params)
  xp = xp or array_module(params, keep)
  keep = xp.asarray(keep)
  for s in group.slices():
    idx = _kept_index(s, group, sizes, keep, xp)
    params = set_leaf(params, s.path, xp.take(xp.asarray(get_leaf(params, s.path)), idx,
                                          axis=s.axis))
  return params


def expand_units(small, group: UnitGroup, keep, full_sizes: dict):
  """The inverse of `remove_units`: `small` holds only units `keep` of a group whose sizes
  were `full_sizes` (`group.sizes` of the uncut params); the removed units come back as
  zeros, every other entry where it was."""
  group.check()
  xp = array_module(small, keep)
  keep = xp.asarray(keep)
  for s in reversed(group.slices()):     # undo remove_units' takes, last first
    idx = _kept_index(s, group, full_sizes, keep, xp)
    x = xp.moveaxis(xp.asarray(get_leaf(small, s.path)), s.axis, 0)
    full_len = sum(math.prod(dims) for _, dims, _ in _layout(s, group, full_sizes))
    out = set_at(xp, xp.zeros((full_len, *x.shape[1:]), x.dtype), idx, x)
    small = set_leaf(small, s.path, xp.moveaxis(out, 0, s.axis))
  return small


def zero_units(params, group: UnitGroup, alive):
  """Masked removal: every slice of the units where `alive` is False is set to zero and
  the layer keeps its size. A unit whose incoming weights and bias are zero and whose
  outgoing weights are zero no longer acts, so the network computes what `remove_units`
  would give (through normalisation layers only approximately)."""
  group.check()
  return _scale_units(params, group, group.slices(), alive)


def _scale_units(params, group: UnitGroup, slices, values):
  """Each unit's entries on `slices` times its value (values: (U,), bool or float); the
  entries that belong to no unit of the group are kept."""
  sizes = group.sizes(params)
  xp = array_module(params, values)
  values = xp.asarray(values)
  for s in slices:
    parts = []
    for _, dims, pos in _layout(s, group, sizes):
      if pos is None:
        parts.append(xp.ones((math.prod(dims),), values.dtype))
      else:
        shape = [1] * len(dims)
        shape[pos] = dims[pos]
        parts.append(xp.broadcast_to(values.reshape(shape), dims).ravel())
    x = xp.asarray(get_leaf(params, s.path))
    shape = [1] * x.ndim
    shape[s.axis] = x.shape[s.axis]
    params = set_leaf(params, s.path, x * xp.concatenate(parts).reshape(shape).astype(x.dtype))
  return params


def merge_into(params, group: UnitGroup, d, k, c=1.0):
  """Folds unit d into unit k (outgoing[k] += c * outgoing[d]; each fed bias += centre
  (1 - c) * outgoing[d] summed over the other axes) without removing d: d's outgoing
  entries are zeroed so it no longer acts, and `remove_units` then deletes it. Works with
  traced d, k, c."""
  group.check()
  return _fold(params, group, d, k, c, group.centre * (1.0 - c))


def fold_into_bias(params, group: UnitGroup, d, value):
  """Removes unit d's action as if its activation were the constant `value`: each fed
  bias += value * outgoing[d] summed over the other axes, and d's outgoing entries are
  zeroed (`remove_units` then deletes it). Exact for a unit whose activation is constant
  over the patterns and that acts linearly on a next layer with a bias (the `variance`
  criterion's removal). Works with traced d and value."""
  group.check()
  return _fold(params, group, d, d, 0.0, value)


def _bias(s: Slice):
  """(path, output axis, sign) of the value a slice's shift goes to: a bias (+1) or a
  running mean subtracted from the layer's output (-1: BatchNorm in inference mode)."""
  b_path, out_axis, *sign = s.bias
  return b_path, out_axis, sign[0] if sign else 1.0


def _fold(params, group: UnitGroup, d, k, c, shift_scale):
  """outgoing[k] += c * outgoing[d]; each fed bias += shift_scale * outgoing[d] summed
  over the other axes; outgoing[d] = 0."""
  sizes = group.sizes(params)
  xp = array_module(params, d, k, c, shift_scale)
  pair = xp.stack([xp.asarray(d), xp.asarray(k)])
  c, shift_scale = xp.asarray(c), xp.asarray(shift_scale)
  for s in group.outgoing:
    idx = _unit_index(s, group, sizes, pair, xp)
    x = xp.moveaxis(xp.asarray(get_leaf(params, s.path)), s.axis, 0)
    w_d = x[idx[0]]
    if s.bias is not None:
      b_path, out_axis, sign = _bias(s)
      # out_axis counted on the original array; after moving s.axis to the front:
      moved = out_axis + (1 if out_axis < s.axis else 0)
      other = tuple(a for a in range(w_d.ndim) if a != moved)
      shift = sign * shift_scale * xp.sum(w_d, axis=other)
      bias = xp.asarray(get_leaf(params, b_path))
      params = set_leaf(params, b_path, (bias + shift).astype(bias.dtype))
    x = set_at(xp, add_at(xp, x, idx[1], c * w_d), idx[0], 0.0)
    params = set_leaf(params, s.path, xp.moveaxis(x, 0, s.axis))
  return params


def spread_into(params, group: UnitGroup, d, coeffs, shift_scale):
  """Replaces unit d's action by a linear combination of the others: outgoing[u] +=
  coeffs[u] * outgoing[d] for every unit u, each fed bias += shift_scale * outgoing[d]
  summed over the other axes, and outgoing[d] = 0 (`remove_units` then deletes it). Exact
  when a_d = sum_u coeffs[u] a_u + shift_scale over the patterns and d acts linearly on a
  next layer with a bias (the `least_squares` compensation). coeffs: (U,), coeffs[d]
  ignored. Works with traced d, coeffs and shift_scale."""
  group.check()
  sizes = group.sizes(params)
  units = sizes[group.name]
  xp = array_module(params, d, coeffs, shift_scale)
  d, shift_scale = xp.asarray(d), xp.asarray(shift_scale)
  coeffs = set_at(xp, xp.asarray(coeffs), d, 0.0)
  for s in group.outgoing:
    idx = _unit_index(s, group, sizes, xp.arange(units), xp)      # (U, positions)
    x = xp.moveaxis(xp.asarray(get_leaf(params, s.path)), s.axis, 0)
    w_d = x[idx[d]]
    if s.bias is not None:
      b_path, out_axis, sign = _bias(s)
      moved = out_axis + (1 if out_axis < s.axis else 0)
      other = tuple(a for a in range(w_d.ndim) if a != moved)
      bias = xp.asarray(get_leaf(params, b_path))
      params = set_leaf(params, b_path, (bias + sign * shift_scale * xp.sum(w_d, other))
                    .astype(bias.dtype))
    add = coeffs.reshape((units,) + (1,) * w_d.ndim).astype(x.dtype) * w_d[None]
    x = set_at(xp, add_at(xp, x, idx, add), idx[d], 0.0)
    params = set_leaf(params, s.path, xp.moveaxis(x, 0, s.axis))
  return params


def copy_unit(params, group: UnitGroup, src, dst):
  """Makes unit `dst` an exact copy of unit `src` on the incoming side (its weights, bias
  and other per-unit parameters), so both compute the same activation; the outgoing side
  is left as it is. What function-preservation checks need: copy, merge dst into src with
  c = 1, remove dst, and the outputs must not change."""
  group.check()
  sizes = group.sizes(params)
  xp = array_module(params, src, dst)
  pair = xp.stack([xp.asarray(src), xp.asarray(dst)])
  outgoing = {(s.path, s.axis) for s in group.outgoing}
  for s in group.incoming:
    if (s.path, s.axis) in outgoing:
      continue
    idx = _unit_index(s, group, sizes, pair, xp)
    x = xp.moveaxis(xp.asarray(get_leaf(params, s.path)), s.axis, 0)
    x = set_at(xp, x, idx[1], x[idx[0]])
    params = set_leaf(params, s.path, xp.moveaxis(x, 0, s.axis))
  return params


def drop_units(params, group: UnitGroup, drop: Sequence[int]):
  """Removes the listed units (host-side indices); a clear error if they do not exist or
  would leave the layer empty."""
  size = group.size(params)
  drop = sorted({int(d) for d in drop})
  if drop and (drop[0] < 0 or drop[-1] >= size):
    raise ConfigError(f"cannot prune units {drop}: the layer has units 0..{size - 1}")
  if len(drop) >= size:
    raise ConfigError(f"cannot prune {len(drop)} units from a layer of {size}: at least one "
                      "must remain")
  keep = [u for u in range(size) if u not in set(drop)]
  return remove_units(params, group, np.asarray(keep, np.int32))


def incoming_vectors(params, group: UnitGroup):
  """(U, entries) every unit's incoming entries (weights, bias and other per-unit
  parameters that compute it, all incoming slices together): the weight vectors whose
  angles the `weight_angle` criterion compares."""
  sizes = group.sizes(params)
  xp = array_module(params)
  units = xp.arange(sizes[group.name])
  outgoing = {(s.path, s.axis) for s in group.outgoing}
  cols = []
  for s in group.incoming:
    if (s.path, s.axis) in outgoing:
      continue
    idx = _unit_index(s, group, sizes, units, xp)
    x = xp.moveaxis(xp.asarray(get_leaf(params, s.path)), s.axis, 0)[idx]
    cols.append(x.reshape(x.shape[0], -1))
  return xp.concatenate(cols, axis=1)


def scale_outgoing(params, group: UnitGroup, gates):
  """Every unit's outgoing entries times its gate (gates: (U,)). At gates = 1 the network
  is unchanged, and the gradient of a loss with respect to gate u is the sum over the
  patterns of unit u's activation times the loss's derivative by it: the first-order
  Taylor importance (`taylor` criterion)."""
  return _scale_units(params, group, group.outgoing, gates)


def outgoing_norms(params, group: UnitGroup):
  """L2 norm of every unit's outgoing entries (all outgoing slices together)."""
  if not group.outgoing:
    raise ConfigError(f"unit group {group.name!r} has no outgoing weights to measure (its "
                      "units act through an operation without weights, e.g. a max over "
                      "them)")
  sizes = group.sizes(params)
  xp = array_module(params)
  units = xp.arange(sizes[group.name])
  total = 0.0
  for s in group.outgoing:
    idx = _unit_index(s, group, sizes, units, xp)          # (U, positions)
    x = xp.asarray(get_leaf(params, s.path))
    if xp is np:      # on the host: each axis entry's sum of squares, no copy of the kernel
      axes = list(range(x.ndim))
      total = total + np.sum(np.einsum(x, axes, x, axes, [s.axis])[idx], axis=1)
    else:
      x = xp.moveaxis(x, s.axis, 0)[idx]
      total = total + xp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)
  return xp.sqrt(total)


def merge_scale(acts, d, k, centre: float = 0.5, weights=None):
  """Least-squares c with (a_d - centre) ~ c (a_k - centre) over the patterns."""
  a = acts - centre
  if weights is not None:
    a = a * weights[:, None]
  ak, ad = a[:, k], a[:, d]
  denom = jnp.sum(ak * ak)
  return jnp.where(denom > 0, jnp.sum(ad * ak) / jnp.where(denom > 0, denom, 1.0), 0.0)
