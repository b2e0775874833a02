"""Rules of `trace.Trace` for the ops that move, cut or join axes rather than compute:
broadcasts, transposes, reshapes (flatten / unflatten into products), concatenation, stack,
pad, slice, split, iota, reductions and pooling windows, dynamic slices and gathers."""

from __future__ import annotations

import dataclasses
import math

from eegjax.pruning.dims import LayoutError

TRAINING_BN_BY_HAND = ("a statistic over the patterns' axis (a mean over the batch: BatchNorm "
                       "in training mode, written by hand) feeds the model: trace the model in "
                       "inference mode (running statistics, or train=False)")


@dataclasses.dataclass
class Val:
  """A traced value: the dim of each of its axes and, for weights (values computed from
  parameters alone), the parameter leaf axis behind each of its axes."""
  dims: tuple[int, ...]
  origin: tuple = ()            # ((param leaf, leaf axis per value axis or None), ...)


class LayoutRules:
  """Mixin of Trace: one method `_<primitive>` per layout primitive."""

  def _broadcast_in_dim(self, eqn, ins, **_):
    x = ins[0]
    out = eqn.outvars[0].aval.shape
    dims = list(self.fresh(eqn.outvars[0].aval))
    amap = [None] * len(out)
    for a, b in enumerate(eqn.params["broadcast_dimensions"]):
      if self.dims.size(x.dims[a]) == out[b]:
        dims[b] = x.dims[a]
        amap[b] = a
    origin = tuple((leaf, tuple(None if m is None else am[m] for m in amap))
                   for leaf, am in x.origin)
    return [Val(tuple(dims), origin)]

  def _transpose(self, eqn, ins, **_):
    perm = eqn.params["permutation"]
    x = ins[0]
    return [Val(tuple(x.dims[a] for a in perm),
                tuple((leaf, tuple(am[a] for a in perm)) for leaf, am in x.origin))]

  def _rev(self, eqn, ins, **_):
    """Reversal along some axes (a reversed or bidirectional RNN's time axis): the axes
    keep their classes; units on a reversed axis would change places, so such a class is
    blocked."""
    x = ins[0]
    for a in eqn.params["dimensions"]:
      self.dims.block(x.dims[a], "reversed along this axis (lax.rev)")
    return [Val(x.dims, x.origin)]

  def _bitcast_convert_type(self, eqn, ins, **_):
    """Reinterpreting bits of the same width (dropout's random mask): the axes are kept."""
    x = ins[0]
    if tuple(eqn.outvars[0].aval.shape) != tuple(self.dims.size(d) for d in x.dims):
      for d in x.dims:
        self.dims.block(d, "bitcast_convert_type to another width")
      return [Val(self.fresh(eqn.outvars[0].aval))]
    return [Val(x.dims)]

  def _random_bits(self, eqn, ins, **_):
    """Random bits of a given shape (dropout's mask): new axes that the ops using them tie
    to the data's; resized programs draw them at the new shape."""
    return [Val(self.fresh(eqn.outvars[0].aval))]

  def _random_wrap(self, eqn, ins, **_):
    return [Val(self.fresh(eqn.outvars[0].aval))]

  _random_unwrap = _random_seed = _random_fold_in = _random_split = _random_wrap

  def _squeeze(self, eqn, ins, **_):
    x = ins[0]
    keep = [a for a in range(len(x.dims)) if a not in eqn.params["dimensions"]]
    return [Val(tuple(x.dims[a] for a in keep),
                tuple((leaf, tuple(am[a] for a in keep)) for leaf, am in x.origin))]

  def _reshape(self, eqn, ins, **_):
    x = ins[0]
    old = [self.dims.size(d) for d in x.dims]
    new = list(eqn.outvars[0].aval.shape)
    dims, amap = [None] * len(new), [None] * len(new)
    for ia, oa in _reshape_groups(old, new):
      ia = [a for a in ia if old[a] != 1]
      oa_big = [a for a in oa if new[a] != 1]
      for a in oa:
        if new[a] == 1:
          dims[a] = self.dims.new(1)
      if not oa_big:
        continue
      if len(ia) == 1 and len(oa_big) == 1:
        dims[oa_big[0]], amap[oa_big[0]] = x.dims[ia[0]], ia[0]
      elif len(oa_big) == 1:
        dims[oa_big[0]] = self.dims.new(new[oa_big[0]], [tuple(x.dims[a] for a in ia)])
      elif len(ia) == 1:
        parts = [self.dims.new(new[a]) for a in oa_big]
        self.dims.unify(x.dims[ia[0]], self.dims.new(old[ia[0]], [tuple(parts)]))
        for a, d in zip(oa_big, parts):
          dims[a] = d
      else:
        raise LayoutError("a reshape regroups several axes into several others")
    origin = tuple((leaf, tuple(None if m is None else am[m] for m in amap))
                   for leaf, am in x.origin)
    return [Val(tuple(dims), origin)]

  def _concatenate(self, eqn, ins, **_):
    ax = eqn.params["dimension"]
    rank = len(ins[0].dims)
    dims = []
    for a in range(rank):
      if a == ax:
        dims.append(self.dims.new(eqn.outvars[0].aval.shape[a],
                                  [(x.dims[a],) for x in ins]))
      else:
        for x in ins[1:]:
          self.dims.unify(ins[0].dims[a], x.dims[a])
        dims.append(ins[0].dims[a])
    origin = tuple(o for x in ins for o in x.origin)
    if origin and any(not x.origin for x in ins):   # weights concatenated with data
      for x in ins:
        self.role(x, {a: "elementwise" for a in range(rank)})
      origin = ()
    return [Val(tuple(dims), origin)]

  def _stack(self, eqn, ins, **_):
    """Equal arrays stacked along a new axis: their axes are one class each (a unit of
    one is a unit of all)."""
    for x in ins[1:]:
      for a, b in zip(ins[0].dims, x.dims):
        self.dims.unify(a, b)
    dims = list(ins[0].dims)
    dims.insert(eqn.params["axis"], self.dims.new(len(ins)))
    for x in ins:
      if x.origin:
        self.role(x, {a: "elementwise" for a in range(len(x.dims))})
    return [Val(tuple(dims))]

  def _pad(self, eqn, ins, **_):
    x = ins[0]
    dims = []
    for d, (lo, hi, interior) in zip(x.dims, eqn.params["padding_config"]):
      if (lo, hi, interior) == (0, 0, 0):
        dims.append(d)
      elif interior == 0 and lo >= 0 and hi >= 0:
        dims.append(self.dims.new(self.dims.size(d) + lo + hi,
                                  [(self.dims.new(lo),), (d,), (self.dims.new(hi),)]))
      else:
        self.dims.block(d, "pad with interior or negative padding")
        dims.append(self.dims.new(self.dims.size(d) * (interior + 1) + lo + hi))
    return [Val(tuple(dims))]

  def _slice(self, eqn, ins, **_):
    x = ins[0]
    p = eqn.params
    strides = p["strides"] or (1,) * len(x.dims)
    dims = []
    for d, lo, hi, st in zip(x.dims, p["start_indices"], p["limit_indices"], strides):
      if (lo, hi, st) == (0, self.dims.size(d), 1):
        dims.append(d)
      elif st == 1:
        dims.append(self.dims.cut(d, lo, hi))
      else:
        self.dims.block(d, "a strided slice")
        dims.append(self.dims.new(len(range(lo, hi, st))))
    origin = tuple((leaf, tuple(am[a] if dims[a] == x.dims[a] else None
                                for a in range(len(dims)))) for leaf, am in x.origin)
    return [Val(tuple(dims), origin)]

  def _split(self, eqn, ins, **_):
    x = ins[0]
    ax = eqn.params["axis"]
    outs, start = [], 0
    for v in eqn.outvars:
      n = v.aval.shape[ax]
      dims = list(x.dims)
      dims[ax] = self.dims.cut(x.dims[ax], start, start + n)
      start += n
      outs.append(Val(tuple(dims)))
    return outs

  def _iota(self, eqn, ins, **_):
    return [Val(self.fresh(eqn.outvars[0].aval))]

  def _reduce(self, eqn, ins):
    x = ins[0]
    axes = eqn.params["axes"]
    for a in axes:
      self.dims.note(x.dims[a], f"reduced over by {eqn.primitive.name}: removing or merging "
                                "units changes the reduced value")
    kept = tuple(d for a, d in enumerate(x.dims) if a not in axes)
    batch = self.input_dims[0][0] if self.input_dims and self.input_dims[0] else None
    if batch is not None and any(self.dims.find(x.dims[a]) == self.dims.find(batch)
                                 for a in axes):
      for d in kept:      # a statistic of the batch: one pattern's output depends on others
        self.dims.pin(d, TRAINING_BN_BY_HAND)
    return [Val(kept)]

  def _window(self, eqn, ins):
    x = ins[0]
    p = eqn.params
    dims = []
    for a, (d, n) in enumerate(zip(x.dims, eqn.outvars[0].aval.shape)):
      plain = (p["window_dimensions"][a] == 1 and p["window_strides"][a] == 1 and
               tuple(p["padding"][a]) == (0, 0))
      dims.append(d if plain else self.dims.new(n))
      if not plain and p["window_dimensions"][a] != 1:
        self.dims.note(d, "pooled over by a window")
    return [Val(tuple(dims))]

  def _dynamic_slice(self, eqn, ins, **_):
    x = ins[0]
    dims = []
    for d, n in zip(x.dims, eqn.outvars[0].aval.shape):
      if self.dims.size(d) == n:
        dims.append(d)
      else:
        self.dims.block(d, "dynamic_slice along this axis")
        dims.append(self.dims.new(n))
    return [Val(tuple(dims))]

  def _gather(self, eqn, ins, **_):
    x, idx = ins
    p = eqn.params
    dn = p["dimension_numbers"]
    out_shape = eqn.outvars[0].aval.shape
    kept = [a for a in range(len(x.dims)) if a not in dn.collapsed_slice_dims and
            a not in dn.operand_batching_dims]
    dims = list(self.fresh(eqn.outvars[0].aval))
    for a in range(len(x.dims)):
      if a not in kept or a in dn.start_index_map or p["slice_sizes"][a] != \
          self.dims.size(x.dims[a]):
        self.dims.block(x.dims[a], "gathered along this axis")
    taken = []
    for oa, a in zip(dn.offset_dims, kept):
      if a not in dn.start_index_map and p["slice_sizes"][a] == self.dims.size(x.dims[a]):
        dims[oa] = x.dims[a]
        taken.append(a)
    if x.origin and not idx.origin:   # rows of a parameter table (an embedding): each
      self.role(x, {a: "producer" for a in taken})   # whole axis read is a unit class
    batch = [a for a in range(len(out_shape)) if a not in dn.offset_dims]
    for oa, d in zip(batch, idx.dims[:-1]):
      if self.dims.size(d) == out_shape[oa]:
        dims[oa] = d
    return [Val(tuple(dims))]


def _reshape_groups(old, new):
  """Pairs of (old axes, new axes) with equal products, in order, as numpy's reshape
  lays them out; size-1 axes of the new shape come alone (their old partners dropped)."""
  if math.prod(old) != math.prod(new):
    raise LayoutError("reshape changes the number of elements")
  oi = [a for a, s in enumerate(old) if s != 1]
  ni = [a for a, s in enumerate(new) if s != 1]
  groups, i, j = [], 0, 0
  while i < len(oi) and j < len(ni):
    ia, ja = [oi[i]], [ni[j]]
    po, pn = old[oi[i]], new[ni[j]]
    i, j = i + 1, j + 1
    while po != pn:
      if po < pn:
        ia.append(oi[i])
        po *= old[oi[i]]
        i += 1
      else:
        ja.append(ni[j])
        pn *= new[ni[j]]
        j += 1
    groups.append((ia, ja))
  groups.extend(([], [a]) for a, s in enumerate(new) if s == 1)
  return groups
