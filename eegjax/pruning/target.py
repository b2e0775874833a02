"""One call prunes a whole model to a target: a ratio of every group, ratios per group, or a
share of its multiply-adds or parameters, with groups ranked apart or globally.

    small, report = pruning.prune_to(model.apply, params, x_train, target_macs=0.5,
                                     criterion="magnitude", global_ranking=True)
    print(report.summary())

This is the engine's second path (`pruning.prune`, the study's loop, measures every width
step by step): the statistics of every group come from one traced pass over the data (one
compile for the model, `engine.Collector`), each group's removal order is chosen from them
(`progressive.removal_order`: the registry's criteria, constant units first), the widths
that meet the target are found by counting the traced program at candidate widths
(`cost.Counter`, no re-tracing), and the chosen units are compensated for (the
registry's compensations, in the order chosen) and cut, group by group, on the host.

Global ranking makes the groups' orders comparable: a pair criterion's angle folded to
min(angle, 180 - angle) (degrees from a duplicate or a mirror: the same scale in every
group), a score criterion's score over its group's mean (Torch-Pruning's "mean"
normaliser), a random draw its rank; each group's sequence is made non-decreasing, so a
global prefix takes a prefix of every group's order. `iterative_steps` splits the pruning
into steps whose targets approach the final one linearly, each with its own pass over the
data at the widths reached.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import time
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import ConfigError
from eegjax.pruning import criteria
from eegjax.pruning.cost import Cost, Counter
from eegjax.pruning.discover import Program
from eegjax.pruning.engine import Collector, stats_analysis
from eegjax.pruning.progressive import (PruneConfig, apply_order, removal_order,
                                        sorted_on_host)
from eegjax.pruning.resize import Resized
from eegjax.pruning.surgery import UnitGroup, remove_units, scale_outgoing, zero_units
from eegjax.pruning.tree_edit import on_host


@dataclasses.dataclass
class Report:
  """What `prune_to` did: per group the units before and after and the original indices
  of those kept; groups left alone and why; the cost before and after; the seconds each
  phase took; and `apply(small, *args)`, the model run at its pruned widths (the traced
  program: what a linen module's own apply cannot take, `pruning.resized_apply`)."""
  before: Cost
  after: Cost
  groups: dict                  # name -> {"units_before", "units_after", "kept"}
  skipped: dict                 # name -> why it was not pruned
  seconds: dict = dataclasses.field(default_factory=dict)  # trace, score, cut
  apply: Any = dataclasses.field(default=None, repr=False)
  unit_groups: list = dataclasses.field(default_factory=list, repr=False)

  def zeroed(self, params):
    """The original `params` with every unit this pruning removed zeroed (sizes kept):
    what the pruned model computes wherever the cut is exact."""
    for g in self.unit_groups:
      alive = np.zeros(self.groups[g.name]["units_before"], bool)
      alive[self.groups[g.name]["kept"]] = True
      params = zero_units(params, g, alive)
    return params

  def summary(self) -> str:
    b, a = self.before, self.after
    lines = [f"multiply-adds per example {b.macs:,} -> {a.macs:,} ({a.macs / b.macs:.1%}); "
             f"parameters {b.params:,} -> {a.params:,} ({a.params / b.params:.1%})"]
    lines += [f"  {n}: {g['units_before']} -> {g['units_after']} units"
              for n, g in self.groups.items()]
    lines += [f"  {n}: not pruned ({why})" for n, why in self.skipped.items()]
    return "\n".join(lines)


@dataclasses.dataclass
class _Order:
  """One group's removal order (current indices), its comparable scores and statistics."""
  group: UnitGroup
  units: int
  slots: dict                  # `progressive.removal_order`'s arrays
  score: np.ndarray            # non-decreasing along the order
  stats: dict                  # the group's analysis dict

  @property
  def d(self):
    return self.slots["d"]


def prune_to(apply_fn, params, *args, ratio: Optional[float] = None,
             ratios: Optional[dict] = None, target_macs: Optional[float] = None,
             target_params: Optional[float] = None, global_ranking: bool = False,
             ignore: Sequence[str] = (), round_to: int = 1, iterative_steps: int = 1,
             criterion: str = "distinctiveness", compensation: str = "mean",
             rule: str = "paper", similar_deg: float = 15.0,
             complementary_deg: float = 165.0, order: str = "study", seed: int = 0,
             weights=None, lengths=None, chunk: int = 1024, loss_fn=None):
  """Prunes every prunable unit group of apply_fn(params, *args) at once and returns
  (params, Report). How much, one of:

    ratio=0.3               that fraction of every group's units (rounded down);
    ratios={pattern: r}     per group (names or fnmatch patterns; with `ratio`, the rest);
    target_macs=0.5         the smallest pruning whose multiply-adds per example are at
                            most that share of the original's; target_params likewise.

  global_ranking: one ranking across groups (a ratio then applies to all units together,
  and a target removes the globally lowest first); otherwise every group loses the same
  fraction. ignore: group names or patterns left whole. round_to: widths kept a multiple
  of it. iterative_steps: prune in that many steps, statistics read again after each.
  criterion / compensation: any of the registry (`pruning.criteria`, `compensation`);
  `args` are the training patterns whose activations the statistics read (weights,
  lengths, chunk: as `pruning.activations`); loss_fn(outputs): taylor's loss."""
  _check_request(ratio, ratios, target_macs, target_params, global_ranking, round_to,
                 iterative_steps)
  cfg = PruneConfig(criterion, rule, 1, similar_deg, complementary_deg, order,
                    compensation=compensation)
  if criterion == "taylor" and loss_fn is None:
    raise ConfigError("prune_to: criterion taylor needs loss_fn(outputs): the training loss "
                      "from the model's outputs on the patterns")
  clock = _Clock()
  program = Program(apply_fn, params, *args)
  counter = Counter(program)
  groups, skipped = _choose_groups(program, params, cfg, ignore, ratios)
  ids = {g.name: np.arange(g.size(params)) for g in groups}
  clock.lap("trace")
  before = None
  for step in range(1, iterative_steps + 1):
    orders, failed = _orders(program, params, groups, cfg, args, seed + step - 1, weights,
                             lengths, chunk, loss_fn)
    skipped.update(failed)
    groups = [g for g in groups if g.name not in failed]
    if before is None:
      before = counter.report(params, [g.name for g in groups])
    clock.lap("score")
    counts = _counts(orders, counter, params, before, step / iterative_steps, ratio, ratios,
                     target_macs, target_params, global_ranking, round_to)
    params, ids = jax.block_until_ready(_cut(params, orders, counts, ids, cfg))
    clock.lap("cut")
  after = counter.report(params, [g.name for g in groups])
  run = Resized(program)
  return params, Report(before, after, {g.name: {
      "units_before": before.groups[g.name].units, "units_after": len(ids[g.name]),
      "kept": [int(i) for i in ids[g.name]]} for g in groups}, skipped, clock.seconds,
      lambda small, *a: run(small, *a)[0], groups)


class _Clock:
  """Seconds per phase, summed over the phase's laps (arrays ready before each reading)."""

  def __init__(self):
    self.seconds, self.last = {}, time.perf_counter()

  def lap(self, phase: str) -> None:
    now = time.perf_counter()
    self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
    self.last = now


def _check_request(ratio, ratios, target_macs, target_params, global_ranking, round_to,
                   steps):
  targets = [n for n, v in (("target_macs", target_macs), ("target_params", target_params))
             if v is not None]
  if len(targets) > 1 or (targets and (ratio is not None or ratios)):
    raise ConfigError("prune_to: give a ratio (ratio= / ratios=) or one target "
                      "(target_macs= or target_params=), not several")
  if not targets and ratio is None and not ratios:
    raise ConfigError("prune_to: say how much: ratio=, ratios={group: ratio}, target_macs= "
                      "or target_params=")
  named = [("ratio", ratio)] + [(f"ratios[{k!r}]", v) for k, v in (ratios or {}).items()]
  for name, v in named:
    if v is not None and not (isinstance(v, (int, float)) and 0 <= v < 1):
      raise ConfigError(f"prune_to: {name}={v!r} must be a fraction in [0, 1)")
  for name in targets:
    v = target_macs if name == "target_macs" else target_params
    if not (isinstance(v, (int, float)) and 0 < v <= 1):
      raise ConfigError(f"prune_to: {name}={v!r} must be a share of the original in (0, 1]")
  if ratios and global_ranking:
    raise ConfigError("prune_to: ratios= per group and global_ranking=True exclude each "
                      "other (a global ranking sets every group's share itself)")
  for name, v in (("round_to", round_to), ("iterative_steps", steps)):
    if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
      raise ConfigError(f"prune_to: {name}={v!r} must be a whole number >= 1")


def _matches(name: str, pattern: str) -> bool:
  return (name == pattern or fnmatch.fnmatchcase(name, pattern)
          or name.startswith(pattern.rstrip("/") + "/"))


def _choose_groups(program, params, cfg, ignore, ratios):
  """(groups to prune, {name: why not} for the prunable ones left out). A pattern that
  matches no group is refused."""
  names = [g.name for g in program.groups]
  for label, patterns in (("ignore", list(ignore)), ("ratios", list(ratios or {}))):
    for pat in patterns:
      if not any(_matches(n, pat) for n in names):
        raise ConfigError(f"prune_to: {label} names {pat!r}, which matches no unit group; "
                          f"the model's groups are {names}")
  chosen, skipped = [], {}
  for g in program.groups:
    if not g.prunable:
      skipped[g.name] = g.reason
    elif any(_matches(g.name, p) for p in ignore):
      skipped[g.name] = "ignored"
    elif g.activation is None and (cfg.chooses_pairs or cfg.needs):
      skipped[g.name] = (f"discovery found no per-unit activation, which criterion "
                         f"{cfg.criterion} with compensation {cfg.compensation} needs")
    else:
      try:
        g.size(params)
      except ConfigError as e:
        skipped[g.name] = str(e)
        continue
      chosen.append(g)
  return chosen, skipped


def _statistics(program, params, groups, cfg, args, weights, lengths, chunk, loss_fn):
  """{group name: analysis dict} of every group from one compiled pass over `args`."""
  sized = {g.name: g.size(params) for g in groups}
  read = [g for g in groups if g.activation is not None and (cfg.chooses_pairs or cfg.needs)]
  out = {g.name: {"gram": np.zeros((sized[g.name],) * 2, np.float32)} for g in groups}
  if read:
    collector = Collector(program, read)
    stats = jax.jit(lambda p: collector(p, *args, weights=weights, lengths=lengths,
                                        chunk=chunk))(params)
    out.update({g.name: stats_analysis(stats[g.name], g) for g in read})
  if "taylor" in cfg.needs:
    run = Resized(program)

    def loss(gates):
      p = params
      for g in groups:
        p = scale_outgoing(p, g, gates[g.name])
      return loss_fn(run(p, *args)[0])

    grads = jax.grad(loss)({n: jnp.ones(u, jnp.float32) for n, u in sized.items()})
    for n, v in grads.items():
      out[n]["taylor"] = jnp.abs(v)
  return out


def _orders(program, params, groups, cfg, args, seed, weights, lengths, chunk, loss_fn):
  stats = _statistics(program, params, groups, cfg, args, weights, lengths, chunk, loss_fn)
  on_host = sorted_on_host(cfg)          # no key to derive (an eager op per group)
  out, failed = [], {}
  for i, g in enumerate(groups):
    units = g.size(params)
    key = None if on_host else jax.random.fold_in(jax.random.key(seed), i)
    try:              # a group the criterion cannot score (no outgoing weights to measure)
      r = jax.device_get(removal_order(params, g, cfg, stats[g.name], key, units - 1))
    except ConfigError as e:
      failed[g.name] = str(e)
      continue
    out.append(_Order(g, units, r, _scores(cfg, r), stats[g.name]))
  return out, failed


def _scores(cfg, r) -> np.ndarray:
  """Comparable scores along one group's order (see the module doc), non-decreasing."""
  crit = criteria.get(cfg.criterion)
  n = len(r["d"])
  if crit.pairs:
    a = np.asarray(r["angle"], np.float64)
    s = np.minimum(a, 180.0 - a)
  elif crit.score is not None:
    raw = np.asarray(r["scores"], np.float64)
    s = raw[r["d"]] / max(float(np.mean(np.abs(raw))), 1e-30)
  else:
    s = (np.arange(n) + 1.0) / (n + 1.0)
  s = np.where(np.asarray(r["use_dead"]) | np.isnan(s), -np.inf, s)
  return np.maximum.accumulate(s)


def _kept(units: int, removed: int, round_to: int) -> int:
  keep = units - removed
  if round_to > 1:
    keep = min(units, max(round_to, math.ceil(keep / round_to) * round_to))
  return max(keep, 1)


def _counts(orders, counter, params, before, progress, ratio, ratios, target_macs,
            target_params, global_ranking, round_to) -> dict:
  """{group name: units to remove now}. progress: the share of the final pruning this
  step reaches (1 at the last of the iterative steps)."""
  names = [o.group.name for o in orders]
  table = counter.sizes(params)
  if target_macs is None and target_params is None:
    if global_ranking:
      total = sum(before.groups[n].units for n in names)
      done = total - sum(o.units for o in orders)        # removed by earlier steps
      return _global(orders, max(0, round(ratio * progress * total) - done), round_to)
    return {o.group.name: o.units - _kept(o.units, math.floor(
        _ratio_of(o.group.name, ratio, ratios) * progress * before.groups[o.group.name].units
        ) - (before.groups[o.group.name].units - o.units), round_to) for o in orders}
  want = "macs" if target_macs is not None else "params"
  share = target_macs if target_macs is not None else target_params
  goal = getattr(before, want) * (1 - (1 - share) * progress)

  def cost_of(counts):
    widths = {o.group.name: o.units - counts[o.group.name] for o in orders}
    p, m = counter.count(counter.with_widths(table, widths))
    return m if want == "macs" else p

  if global_ranking:
    most = sum(len(o.d) for o in orders)
    pick = lambda k: _global(orders, k, round_to)                     # noqa: E731
  else:
    most = 1.0
    pick = lambda r: {o.group.name: o.units - _kept(o.units, math.floor(r * o.units),  # noqa
                                                    round_to) for o in orders}
  if cost_of(pick(most)) > goal:
    raise ConfigError(f"prune_to: target_{want}={share} cannot be met: pruning every group "
                      f"as far as it goes leaves {cost_of(pick(most)):,} {_WORDS[want]}, over "
                      f"the goal of {goal:,.0f}")
  return pick(_least(lambda x: cost_of(pick(x)) <= goal, most, global_ranking))


_WORDS = {"macs": "multiply-adds per example", "params": "parameters"}


def _least(meets, most, integer: bool):
  """The least x in [0, most] with meets(x), meets monotone (bisection); integers or,
  to float resolution, reals."""
  lo, hi = 0, most
  if integer:
    while lo < hi:
      mid = (lo + hi) // 2
      lo, hi = (lo, mid) if meets(mid) else (mid + 1, hi)
    return hi
  for _ in range(40):
    mid = (lo + hi) / 2
    lo, hi = (lo, mid) if meets(mid) else (mid, hi)
  return hi


def _ratio_of(name, ratio, ratios) -> float:
  for pat, r in (ratios or {}).items():
    if _matches(name, pat):
      return r
  return ratio or 0.0


def _global(orders, k: int, round_to: int) -> dict:
  """Units each group loses when the k globally lowest-scored removals are taken."""
  entries = sorted((o.score[i], i, j) for j, o in enumerate(orders) for i in range(len(o.d)))
  counts = [0] * len(orders)
  for _, _, j in entries[:k]:
    counts[j] += 1
  return {o.group.name: o.units - _kept(o.units, c, round_to)
          for o, c in zip(orders, counts)}


def _cut(params, orders, counts, ids, cfg):
  """Compensates for and removes each group's first counts[name] units of its order."""
  ids = dict(ids)
  for o in orders:
    n = counts[o.group.name]
    if n <= 0:
      continue
    params, alive = apply_order(params, o.group, cfg, o.stats, o.slots, n)
    keep = np.flatnonzero(alive)
    with on_host():             # the cuts stay numpy; the tree goes to the device once
      params = remove_units(params, o.group, keep)
    ids[o.group.name] = ids[o.group.name][keep]
  return jax.device_put(params), ids
