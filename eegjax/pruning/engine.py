"""Pruning any Flax model in a few calls: activation statistics of discovered unit groups,
and one-call progressive pruning.

    from eegjax import pruning
    small, record = pruning.prune(model.apply, params, x_train, criterion="distinctiveness")
    run = pruning.resized_apply(model.apply, params, x_train[:1])
    logits = run(small, x_test)

`activations` reads each group's activation where discovery found it (the output of its
nonlinearity, or the recurrent state at every step of a scan) and accumulates the Gram
matrix of the centred vectors, their sum and their count over the patterns, `chunk`
patterns at a time inside one compiled scan, so 10^5 patterns (x time steps) never sit in
memory at once. Patterns with weight 0 and, for recurrent states, steps at or beyond a
sequence's length are left out.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import ConfigError
from eegjax.pruning.discover import Program
from eegjax.pruning.distinctiveness import angles_from_gram, min_angle, pair_mask
from eegjax.pruning.progressive import PruneConfig
from eegjax.pruning.resize import Resized
from eegjax.pruning.surgery import UnitGroup, scale_outgoing


@dataclasses.dataclass(frozen=True)
class Stats:
  """Activation statistics of one group over the patterns: gram = A^T A and total = sum
  of the rows of A, A the activations minus the group's centre; count = patterns used."""
  gram: jax.Array
  total: jax.Array
  count: jax.Array


jax.tree_util.register_dataclass(Stats, data_fields=["gram", "total", "count"],
                                 meta_fields=[])


def _site_rows(group: UnitGroup, value, weights, lengths, sizes=None):
  """(rows, units) activations and (rows,) weights from a captured site value. A unit
  that is one factor of a product axis (`site.product`; `sizes`: the groups' current
  sizes) has every entry of its factor as its activation: the other factors become rows."""
  site = group.activation
  v = jnp.moveaxis(value, site.axis + (1 if site.scan else 0), -1)
  if site.product is not None:
    factors = [f if isinstance(f, int) else sizes[f] for f in site.product]
    v = v.reshape(v.shape[:-1] + tuple(factors))
    v = jnp.moveaxis(v, v.ndim - len(factors) + site.product.index(group.name), -1)
  batch = None if site.batch_axis is None else site.batch_axis + (1 if site.scan else 0)
  batch = None if batch is None else batch - (1 if batch > site.axis + (
      1 if site.scan else 0) else 0)
  w = jnp.ones(v.shape[:-1], v.dtype)
  if weights is not None or (lengths is not None and site.scan):
    if batch is None:
      raise ConfigError(f"unit group {group.name!r}: its activation has no axis of the "
                        "patterns, so pattern weights or lengths cannot be applied")
    shape = [1] * (v.ndim - 1)
    shape[batch] = v.shape[batch]
    if weights is not None:
      w = w * jnp.reshape(weights, shape).astype(v.dtype)
    if lengths is not None and site.scan:
      steps = jnp.arange(v.shape[0]).reshape((-1,) + (1,) * (v.ndim - 2))
      w = w * (steps < jnp.reshape(lengths, shape)).astype(v.dtype)
  return v.reshape(-1, v.shape[-1]), w.reshape(-1)


class Collector:
  """Compiles, once per program, the per-chunk statistics of some groups."""

  def __init__(self, program: Program, groups: Sequence[UnitGroup]):
    for g in groups:
      if g.activation is None:
        raise ConfigError(f"unit group {g.name!r}: discovery found no per-unit activation "
                          "to read (distinctiveness needs one; magnitude and random do not)")
    self.groups = list(groups)
    self.run = Resized(program)

  def chunk_stats(self, params, args, weights, lengths):
    _, got = self.run(params, *args, capture=[g.activation.key for g in self.groups])
    out = {}
    for g in self.groups:
      sizes = g.sizes(params) if g.activation.product is not None else None
      rows, w = _site_rows(g, got[g.activation.key], weights, lengths, sizes)
      a = (rows - g.centre) * w[:, None]
      out[g.name] = Stats(jnp.einsum("pu,pv->uv", a, a, precision=jax.lax.Precision.HIGHEST),
                          a.sum(axis=0), w.sum())
    return out

  def __call__(self, params, *args, weights=None, lengths=None, chunk: int = 1024):
    """Statistics over all patterns of `args` (each with the patterns' leading axis)."""
    n = jax.tree.leaves(args)[0].shape[0]
    chunk = max(1, min(chunk, n))
    pad = (-n) % chunk
    w = jnp.ones((n,), jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)

    def split(x):
      x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
      return x.reshape((-1, chunk) + x.shape[1:])

    ws = split(w)
    ls = None if lengths is None else split(jnp.asarray(lengths))
    xs = jax.tree.map(split, args)

    def add(total, inputs):
      xb, wb, lb = inputs
      s = self.chunk_stats(params, xb, wb, lb)
      return jax.tree.map(jnp.add, total, s), None

    first = jax.eval_shape(lambda: self.chunk_stats(
        params, jax.tree.map(lambda x: x[0], xs), ws[0], None if ls is None else ls[0]))
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), first)
    total, _ = jax.lax.scan(add, zeros, (xs, ws, ls))
    return total


def activations(apply_fn, params, groups: Sequence[UnitGroup], *args, weights=None,
                lengths=None, chunk: int = 1024, program: Optional[Program] = None):
  """{group name: Stats} of each group's centred activations over the patterns of `args`
  (the inputs of apply_fn after params, each with the patterns' leading axis), `chunk`
  patterns at a time. `weights` (patterns,) drops patterns with weight 0; `lengths`
  (patterns,) drops a recurrent state's steps at or beyond each sequence's length. For
  pruned `params` pass the `program` traced on the unpruned model (`Program(apply_fn,
  params, *args)`): it then runs at the pruned sizes."""
  program = program or Program(apply_fn, params, *args)
  return Collector(program, groups)(params, *args, weights=weights, lengths=lengths,
                                    chunk=chunk)


def _select(groups, names):
  by_name = {g.name: g for g in groups}
  if names is None:
    return [g for g in groups if g.prunable]
  missing = [n for n in names if n not in by_name]
  if missing:
    raise ConfigError(f"prune: no unit group named {missing}; the model has "
                      f"{sorted(by_name)}")
  for n in names:
    by_name[n].check()
  return [by_name[n] for n in names]


def stats_analysis(st: Stats, group: UnitGroup) -> dict:
  """The analysis dict `prune_step` reads from a group's Stats: the Gram matrix, each
  unit's mean activation and variance, and the count of patterns."""
  n = jnp.maximum(st.count, 1.0)
  m = st.total / n
  return {"gram": st.gram, "mean": group.centre + m, "var": jnp.diagonal(st.gram) / n - m ** 2,
          "count": st.count}


def prune(apply_fn, params, *args, groups: Optional[Sequence[str]] = None,
          criterion: str = "distinctiveness", compensation: str = "mean",
          masked: bool = False, rule: str = "paper", step: int = 2,
          max_pruned: Optional[int] = None, similar_deg: float = 15.0,
          complementary_deg: float = 165.0, order: str = "study",
          beyond_thresholds: bool = False, seed: int = 0, weights=None, lengths=None,
          chunk: int = 1024, loss_fn=None):
  """Progressive pruning of one model, group after group (all prunable groups, or those
  named), `step` units at a time: `criterion` chooses (any registered in
  `eegjax.pruning.criteria`: distinctiveness, weight_angle, taylor, variance, magnitude,
  random) and `compensation` says what becomes of each removed unit's contribution (none,
  mean -- the default --, least_squares, merge: `eegjax.pruning.compensation`); `masked`
  zeroes the pruned units and keeps the size. A constant unit goes first under every
  criterion. It stops when `max_pruned` units of a group are gone, one unit is left, or (a
  pair criterion without `beyond_thresholds`) no pair is within the thresholds.

  This is the studies' loop (`eegjax.pruning.sweep`) run on one model without
  checkpoints: the group keeps its width while it is pruned (dead units zeroed, an alive
  mask) and is cut at the end. `args` are the training patterns the activations are read
  on; `loss_fn(outputs)` (taylor only) the training loss from the model's outputs on them
  (e.g. the mean cross-entropy against their labels), whose gradient by a gate on each
  unit's outgoing weights gives the Taylor importances. Returns (params, record):
  record[group] lists each step's actions in the study's notation, the minimum angle and
  the pairs within the thresholds before it, why pruning of that group stopped, the units
  left and which. With the default groups, a group that cannot be scored or sized is
  skipped: its record says {"skipped": why}, and the other groups are pruned."""
  _check_counts(max_pruned, step)
  cfg = PruneConfig(criterion, rule, step, similar_deg, complementary_deg, order,
                    max_pruned=max_pruned or 0, compensation=compensation, masked=masked)
  if criterion == "taylor" and loss_fn is None:
    raise ConfigError("criterion taylor needs loss_fn(outputs): the training loss from the "
                      "model's outputs on the patterns")
  program = Program(apply_fn, params, *args)
  record = {}
  for group in _select(program.groups, groups):
    try:
      if group.activation is None and (cfg.chooses_pairs or cfg.needs):
        raise ConfigError(f"unit group {group.name!r}: discovery found no per-unit "
                          f"activation to read, which criterion {criterion} with "
                          f"compensation {compensation} needs (magnitude or random with "
                          "compensation none do not)")
      width = group.size(params)
    except ConfigError as e:
      if groups is not None:          # a group the caller named: its error is theirs
        raise
      record[group.name] = {"skipped": str(e)}   # the others are still pruned
      continue
    if max_pruned is None:
      cfg = dataclasses.replace(cfg, max_pruned=0)
    elif max_pruned >= width:
      cfg = dataclasses.replace(cfg, max_pruned=width - 1)
    params, record[group.name] = _prune_group(program, group, params, args, cfg, width,
                                              beyond_thresholds, seed, weights, lengths,
                                              chunk, loss_fn)
  return params, record


def _whole(v) -> bool:
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_counts(max_pruned, step) -> None:
  """`prune`'s counts in the caller's words (not the binaries' flags)."""
  if max_pruned is not None and not (_whole(max_pruned) and max_pruned >= 0):
    hint = (" (a fraction of every group is pruning.prune_to(..., ratio=...))"
            if isinstance(max_pruned, float) else "")
    raise ConfigError(f"prune: max_pruned={max_pruned!r} must be a number of units per group, "
                      f"a whole number >= 0 (None: until one is left){hint}")
  if not (_whole(step) and step >= 1):
    raise ConfigError(f"prune: step={step!r} must be a whole number of units >= 1")


def _prune_group(program, group, params, args, cfg, width, beyond_thresholds, seed,
                 weights, lengths, chunk, loss_fn):
  """One group of `prune`: a sweep of one model (leading (1, 1) axes) without
  checkpoints. Returns (params, the group's record)."""
  from eegjax.pruning import sweep
  collector = Collector(program, [group]) if group.activation is not None else None
  stats_fn = jax.jit(lambda p: stats_analysis(collector(
      p, *args, weights=weights, lengths=lengths, chunk=chunk)[group.name], group)) \
      if collector else None
  run = Resized(program)
  # jitted, as everything the sweep calls per step: eagerly, each operation would compile
  # a program of its own
  one = jax.jit(lambda tree: jax.tree.map(lambda a: a[0, 0], tree))
  two = jax.jit(lambda tree: jax.tree.map(lambda a: a[None, None], tree))
  taylor = jax.jit(lambda p, a: jnp.abs(jax.grad(lambda g: loss_fn(run(scale_outgoing(
      p, group, g), *a)[0]))(jnp.ones(width, jnp.float32))))

  def analysis(stacked, n):
    p = one(stacked)
    out = stats_fn(p) if stats_fn else {"gram": jnp.zeros((width, width))}
    if "taylor" in cfg.needs:
      out["taylor"] = taylor(p, args)
    return two(out)

  def measure(stacked, alive, n):
    stats = analysis(stacked, n)
    alive1 = jnp.asarray(alive)[0, 0]
    row = {"units_pruned": n, "min_angle": None, "pairs_within": None}
    if stats_fn:
      ang = angles_from_gram(stats["gram"][0, 0])
      row["min_angle"] = float(min_angle(ang, alive1))
      row["pairs_within"] = int((pair_mask(alive1) & ((ang < cfg.similar_deg) | (
          ang > cfg.complementary_deg))).sum() // 2)
    return row, stats, stacked

  family = sweep.Family(
      group=group, measure=measure, grams=analysis,
      keys=lambda n: jax.random.fold_in(jax.random.key(seed), n)[None, None],
      log=lambda msg: None)
  out = sweep.run(family, cfg, two(params), width, cfg.limit(width), beyond_thresholds)
  rows = {r["units_pruned"]: r for r in out["rows"]}
  steps = [{"units_pruned_after": a["units_pruned_after"],
            "min_angle_before": rows[a["units_pruned_after"] - cfg.step]["min_angle"],
            "pairs_within": rows[a["units_pruned_after"] - cfg.step]["pairs_within"],
            "actions": a["actions"][0][0]} for a in out["actions"]]
  alive = np.asarray(out["alive"])[0, 0]
  return one(out["params"]), {
      "steps": steps, "stop": out["stop"], "units_left": int(alive.sum()),
      "criterion": cfg.criterion, "compensation": cfg.compensation,
      "kept_units": [int(i) for i in np.flatnonzero(alive)]}
