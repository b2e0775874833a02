"""One step of progressive pruning: choose `step` units of a hidden layer by a criterion,
compensate for each removed unit, and cut them out of the params pytree.

Everything is a pure function of arrays with static shapes (a layer of U units becomes one
of U - step), so `jax.vmap` runs it for every (fold, seed) model at once: each model prunes
the same number of units, which units is its own choice. Unit identities are tracked in
`ids` (the original index of each remaining unit) so records use the study's numbering:
a merge is written `(k->d)`, unit d removed into unit k.

Two separate axes (see DESIGN.md, "Comparisons a reviewer signs"):
  criterion     which unit goes (`eegjax.pruning.criteria`: distinctiveness, weight_angle,
                magnitude, random, taylor, variance, and any a user registers). A constant
                unit (zero variance over the patterns) goes first under every criterion.
  compensation  what becomes of its contribution (`eegjax.pruning.compensation`: none,
                mean, least_squares, merge), the same for every criterion.
and a removal option, `masked`: the pruned units are zeroed and the layer keeps its size
(the music study's RNN variant), instead of cut.

The pair criteria's rules: a complementary pair (over `complementary_deg`) loses both units,
one per slot (chosen in a step's last slot, its partner goes first in the next step) -- but
under compensation `merge` with rule `scaled` the complementary d is merged into k with a
negative c and k stays. Rule `paper` (c = 1) or `scaled` (least-squares c with the bias
shift of `surgery.merge_into`) only matters to `merge`.

The analysis of the activation vectors is the caller's: it is model specific (MLP layer
activations, RNN trajectories), this step is not. It comes as the Gram matrix, or as a dict
with "gram", "mean" and "var" (each unit's mean activation and its variance over the
patterns), "count" (the patterns) and what the criterion needs besides ("taylor").
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.arrays import traced
from eegjax.errors import ConfigError
from eegjax.pruning import compensation as comp
from eegjax.pruning import criteria
from eegjax.pruning.distinctiveness import (ORDERS, angles_from_gram, check_thresholds,
                                            choose_pair)
from eegjax.settings import setting
from eegjax.pruning.surgery import UnitGroup, remove_units, zero_units

RULES = ("paper", "scaled")
# What happened to the unit removed in a slot.
MERGED, MERGED_COMPLEMENT, REMOVED_COMPLEMENTARY, REMOVED, REMOVED_CONSTANT = 0, 1, 2, 3, 4


@dataclasses.dataclass(frozen=True)
class PruneConfig:
  """How a layer is pruned, whatever the study (a study's pruning flags are these; the
  criterion, compensation and masking are set per run by the study)."""
  criterion: str = "distinctiveness"
  rule: str = setting("paper", "merge rule of --compensation=merge: paper (outgoing weights "
                      "added; complementary pairs both removed) or scaled (least-squares "
                      "scale c, bias shift)", flag="merge_rule")
  step: int = setting(2, "units (conv channels) pruned per step", flag="prune_step")
  similar_deg: float = setting(15.0, "pairs under this angle are similar (merged)")
  complementary_deg: float = setting(165.0, "pairs over this angle are complementary "
                                     "(removed)")
  order: str = setting("study", "distinctiveness order: study (units with the most similar "
                       "partners first) or gentle (fewest first)")
  max_pruned: int = setting(0, "units (channels per layer) to prune at most (0 = until one "
                            "is left)")
  beyond_thresholds: bool = setting(False, "when no pair is within the thresholds, go on "
                                    "with the least distinct pairs instead of stopping")
  compensation: str = "mean"       # what becomes of a removed unit (compensation.py)
  masked: bool = False             # zero the pruned units and keep the layer's size

  @property
  def chooses_pairs(self) -> bool:
    return criteria.get(self.criterion).pairs

  @property
  def needs(self) -> tuple[str, ...]:
    """What the criterion and the compensation need from the caller's analysis besides
    the Gram matrix."""
    extra = criteria.get(self.criterion).needs + comp.NEEDS[self.compensation]
    return tuple(k for k in dict.fromkeys(extra) if k != "gram")

  @property
  def pairs_removed_whole(self) -> bool:
    """A complementary pair loses both units (all but the scaled merge, which folds d
    into k with a negative scale)."""
    return self.chooses_pairs and not (self.compensation == "merge" and
                                       self.rule == "scaled")

  @property
  def label(self) -> str:
    """The run's name: criterion/compensation (and /masked)."""
    return f"{self.criterion}/{self.compensation}" + ("/masked" if self.masked else "")

  def __post_init__(self):
    criteria.get(self.criterion)
    comp.check(self.compensation)
    if self.rule not in RULES:
      raise ConfigError(f"--merge_rule={self.rule!r}: expected one of {list(RULES)}")
    if self.step < 1:
      raise ConfigError(f"--prune_step={self.step}: expected a positive number of units")
    if self.order not in ORDERS:
      raise ConfigError(f"--order={self.order!r}: expected one of {list(ORDERS)}")
    check_thresholds(self.similar_deg, self.complementary_deg)
    if self.max_pruned < 0:
      raise ConfigError(f"--max_pruned={self.max_pruned}: expected >= 0 (0 = no limit)")

  def limit(self, width: int) -> int:
    """Units of a layer of `width` to prune at most: a whole number of steps, leaving at
    least one unit."""
    target = min(self.max_pruned or width - 1, width - 1)
    return target - target % self.step

  def check_width(self, width: int, what: str = "a layer") -> None:
    """Refuses settings that cannot prune `what` of `width` units."""
    if self.max_pruned >= width:
      raise ConfigError(f"--max_pruned={self.max_pruned}: cannot prune that many units from "
                        f"{what} of {width}; expected 0 (= as many as possible) .. "
                        f"{width - 1}")
    if self.step >= width:
      raise ConfigError(f"--prune_step={self.step}: cannot prune {self.step} units from "
                        f"{what} of {width}")


def _choice(crit, cfg: PruneConfig, angles, scores, alive, key):
  """(k, d, angle, within, complementary) of the criterion's next choice (k = -1: no
  partner chosen)."""
  if crit.pairs:
    k, d, angle, within = choose_pair(angles, alive, cfg.similar_deg, cfg.complementary_deg,
                                      True, cfg.order)
    return k, d, angle, within, angle > 90.0
  d = crit.draw(key, alive) if crit.draw is not None else criteria.lowest_score(scores, alive)
  return jnp.array(-1), d, jnp.array(jnp.nan), jnp.array(True), jnp.array(False)


def prune_step(params, ids, gram, key, group: UnitGroup, cfg: PruneConfig, alive=None,
               pending=None, keep_shape: bool = False):
  """Prunes cfg.step units of `group` from one model.

  params: the model's params; ids: (U,) original indices of its units; gram: (U, U) Gram
  matrix of the layer's centred activations over the training patterns, or the analysis
  dict (see the module doc); key: for a drawing criterion; alive: (U,) bool, the units not
  yet pruned (default all); pending: the previous step's `record["pending"]`, [original id,
  angle] of a complementary partner still to be removed (id -1 or None: none).

  Returns (params, ids, alive, record, within). Structurally the params, ids and alive
  have U - step units; masked, or with `keep_shape`, the size stays and the pruned units
  are zeroed and marked dead (keep_shape: after the compensation, so the network computes
  what the cut one computes, and one compiled step serves every width). record holds
  (step,) arrays `kept` (original id of the partner, -1 if none), `removed` (original id
  of d), `kind` (MERGED ...), `angle` (of the pair that slot acted on), `scale` (the merge's
  c, 0 without one) and `pending` (see above). `within` says every pair choice was inside
  the thresholds.
  It is one traced program (vmapped over the models, compiled once per criterion) whose
  choice, compensation and surgery share traced values."""
  units = ids.shape[0]
  alive = jnp.ones(units, bool) if alive is None else alive
  if cfg.step >= units:
    raise ConfigError(f"cannot prune {cfg.step} units from a layer of {units}: at least one "
                      "must remain")
  a = _Analysis.of(params, group, cfg, gram, units)
  pending = jnp.asarray([-1.0, 0.0] if pending is None else pending, jnp.float32)
  pid, pending_angle = pending[0].astype(jnp.int32), pending[1]
  pending = jnp.where(pid >= 0, jnp.argmax(ids == pid), -1).astype(jnp.int32)
  within_all = jnp.array(True)
  rec = {k: [] for k in ("kept", "removed", "kind", "angle", "scale")}
  for slot in range(cfg.step):
    choice = _choice(a.crit, cfg, a.angles, a.scores, alive, jax.random.fold_in(key, slot))
    t, pending, pending_angle = _target(a, cfg, alive, pending, pending_angle, *choice)
    params, kept, kind, scale = _compensate_one(params, group, cfg, a, alive, t)
    alive = alive.at[t.d].set(False)
    within_all = within_all & t.within
    rec["kept"].append(jnp.where(kept >= 0, ids[jnp.maximum(kept, 0)], -1))
    rec["removed"].append(ids[t.d])
    rec["kind"].append(jnp.asarray(kind, jnp.int32))
    rec["angle"].append(jnp.asarray(t.angle, jnp.float32))
    rec["scale"].append(scale)
  record = {k: jnp.stack(v) for k, v in rec.items()}
  record["pending"] = jnp.stack([
      jnp.where(pending >= 0, ids[jnp.maximum(pending, 0)], -1).astype(jnp.float32),
      jnp.where(pending >= 0, pending_angle, 0.0).astype(jnp.float32)])
  if cfg.masked or keep_shape:
    return zero_units(params, group, alive), ids, alive, record, within_all
  keep = jnp.nonzero(alive, size=units - cfg.step)[0]
  params = remove_units(params, group, keep)
  return params, ids[keep], jnp.ones(units - cfg.step, bool), record, within_all


def removal_order(params, group: UnitGroup, cfg: PruneConfig, stats: dict, key, n: int):
  """The first n units `cfg`'s criterion removes from `group` when its statistics stay
  those of `stats` (one pass over the data, as `pruning.prune_to` uses them): the same
  choices as n slots of `prune_step` -- constant units first, complementary partners
  after their pair -- without compensating. Returns {field of a slot's target: (n,)
  array}: "d" (the unit removed), "k" (its partner, -1: none), "angle" (the pair's angle,
  NaN for a constant unit), "use_dead" (a constant unit) and what `apply_order` needs;
  for a score criterion also "scores", (U,) every unit's. The slots run in one lax.scan,
  compiled once per group size (a score criterion's are one sort on the host)."""
  units = jnp.shape(stats["gram"])[0]
  pair_gram, scores = _criterion_inputs(params, group, cfg, stats)
  if sorted_on_host(cfg) and not traced(scores):
    out = _score_order(stats, np.asarray(scores), group.centre, n)
  else:
    arrays = {k: stats[k] for k in ("gram", "mean", "var") if k in stats}
    out = _order_program(cfg, group.centre, units, n)(arrays, pair_gram, scores, key)
  return out if scores is None else {**out, "scores": scores}


def sorted_on_host(cfg: PruneConfig) -> bool:
  """Whether `removal_order` sorts on the host (a score criterion, which draws nothing and
  needs no partner), so that its key goes unused."""
  crit = criteria.get(cfg.criterion)
  return not (crit.pairs or crit.draw or cfg.compensation == "merge")


def _score_order(stats, scores, centre: float, n: int) -> dict:
  """`removal_order` of a score criterion, on the host: what its slots choose one by one
  (constant units first, in index order; then the lowest score, NaN first, the lower index
  among ties) is one stable sort, with nothing to compile per group size."""
  units = len(scores)
  constant = (np.asarray(criteria.constant_units(stats, centre))
              if "var" in stats and "mean" in stats else np.zeros(units, bool))
  rest = np.flatnonzero(~constant)
  rest = rest[np.lexsort((scores[rest], ~np.isnan(scores[rest])))]
  d = np.concatenate([np.flatnonzero(constant), rest])[:n].astype(np.int32)
  dead = np.arange(n) < constant.sum()
  return {"d": d, "k": np.full(n, -1, np.int32), "angle": np.full(n, np.nan, np.float32),
          "within": np.ones(n, bool), "complementary": np.zeros(n, bool), "use_dead": dead,
          "use_pending": np.zeros(n, bool), "fresh": ~dead}


@functools.lru_cache(maxsize=64)
def _order_program(cfg: PruneConfig, centre: float, units: int, n: int):
  """The jitted slots of `removal_order` (shared by every group of one size)."""
  crit = criteria.get(cfg.criterion)

  def run(stats, pair_gram, scores, key):
    a = _Analysis.derive(stats, crit, pair_gram, scores, centre, units)

    def slot(carry, i):
      alive, pending, pending_angle = carry
      choice = _choice(crit, cfg, a.angles, a.scores, alive, jax.random.fold_in(key, i))
      t, pending, pending_angle = _target(a, cfg, alive, pending, pending_angle, *choice)
      row = {f.name: getattr(t, f.name) for f in dataclasses.fields(t)}
      row["angle"] = row["angle"].astype(jnp.float32)
      return (alive.at[t.d].set(False), pending, pending_angle), row

    start = (jnp.ones(units, bool), jnp.array(-1, jnp.int32), jnp.array(0.0, jnp.float32))
    return jax.lax.scan(slot, start, jnp.arange(n))[1]
  return jax.jit(run)


def apply_order(params, group: UnitGroup, cfg: PruneConfig, stats: dict, order: dict,
                n: int):
  """Compensates, in order, for removing the first n units of a `removal_order` (on the
  host, as `prune_step` does slot by slot) and returns (params with those units' outgoing
  action folded away but not yet cut, (U,) bool alive)."""
  units = jnp.shape(stats["gram"])[0]
  a = _Analysis(stats, criteria.get(cfg.criterion), None, None, None, None)
  alive = np.ones(units, bool)
  if cfg.compensation == "none":
    alive[np.asarray(order["d"][:n])] = False
    return params, alive
  for i in range(n):
    t = _Target(**{f.name: jnp.asarray(order[f.name][i]) for f in dataclasses.fields(_Target)})
    params = _compensate_one(params, group, cfg, a, jnp.asarray(alive), t)[0]
    alive[int(order["d"][i])] = False
  return params, alive


@dataclasses.dataclass
class _Analysis:
  """What one step's choices read: the statistics, the criterion and what it derives."""
  stats: dict                  # "gram" and whatever else the analysis holds
  crit: Any                    # the registered criterion
  act_angles: jax.Array        # (U, U) angles between the units' activations
  angles: Optional[jax.Array]  # (U, U) the criterion's pair angles (pair criteria)
  scores: Optional[jax.Array]  # (U,) the criterion's scores (score criteria)
  constant: jax.Array          # (U,) bool, units whose activation does not vary

  @classmethod
  def of(cls, params, group, cfg: PruneConfig, gram, units: int) -> "_Analysis":
    stats = gram if isinstance(gram, dict) else {"gram": gram}
    return cls.derive(stats, criteria.get(cfg.criterion),
                      *_criterion_inputs(params, group, cfg, stats), group.centre, units)

  @classmethod
  def derive(cls, stats, crit, pair_gram, scores, centre: float, units: int) -> "_Analysis":
    """The analysis from the statistics and the criterion's inputs (traceable)."""
    return cls(
        stats=stats, crit=crit, act_angles=angles_from_gram(stats["gram"]),
        angles=None if pair_gram is None else angles_from_gram(pair_gram),
        scores=scores,
        constant=(criteria.constant_units(stats, centre) if "var" in stats and
                  "mean" in stats else jnp.zeros(units, bool)))


def _criterion_inputs(params, group, cfg: PruneConfig, stats: dict):
  """(pair Gram matrix or None, scores or None): what the criterion reads from the params
  and the statistics (checked to hold what the criterion and compensation need)."""
  missing = [k for k in cfg.needs if k not in stats]
  if missing:
    raise ConfigError(f"criterion {cfg.criterion} with compensation {cfg.compensation} "
                      f"needs {missing} in the analysis passed to prune_step")
  crit = criteria.get(cfg.criterion)
  return (crit.pair_gram(params, group, stats) if crit.pairs else None,
          crit.score(params, group, stats) if crit.score is not None else None)


@dataclasses.dataclass
class _Target:
  """One slot's decision: the unit d removed, its partner k (-1: none) and why."""
  d: jax.Array
  k: jax.Array
  angle: jax.Array
  within: jax.Array
  complementary: jax.Array
  use_dead: jax.Array          # d is a constant unit (goes first, whatever the choice)
  use_pending: jax.Array       # d is the previous slot's complementary partner
  fresh: jax.Array             # d is the criterion's own choice


def _target(a: _Analysis, cfg: PruneConfig, alive, pending, pending_angle, k, d, angle,
            within, complementary):
  """The unit a slot removes, given the criterion's choice (k, d, angle, within,
  complementary): a constant unit first, then a pending complementary partner, else the
  choice. Returns (_Target, pending, pending_angle) with the pending partner updated."""
  whole = cfg.pairs_removed_whole
  dead = alive & a.constant
  use_dead = dead.any()
  use_pending = ~use_dead & (pending >= 0) if whole else jnp.array(False)
  fresh = ~use_dead & ~use_pending
  d = jnp.where(use_dead, jnp.argmax(dead), jnp.where(use_pending, pending, d))
  angle = jnp.where(fresh, angle, jnp.where(use_pending, pending_angle, jnp.nan))
  within = within | ~fresh
  if whole:
    new_pending = jnp.where(fresh & complementary, k, -1).astype(jnp.int32)
    pending_angle = jnp.where(fresh, angle.astype(jnp.float32), pending_angle)
    # a pending partner that has turned constant goes now, as a constant unit, and is
    # not pending any more
    pending = jnp.where(use_dead, jnp.where(d == pending, -1, pending), new_pending)
  if cfg.compensation == "merge" and not a.crit.pairs:
    k = comp.nearest_partner(a.act_angles, alive, d, folded=cfg.rule == "scaled")
  k = jnp.where(fresh, k, -1)
  return (_Target(d, k, angle, within, complementary, use_dead, use_pending, fresh),
          pending, pending_angle)


def _compensate_one(params, group, cfg: PruneConfig, a: _Analysis, alive, t: _Target):
  """Compensates for removing t.d; returns (params, partner, kind, merge scale)."""
  whole = cfg.pairs_removed_whole
  takes = (t.fresh & (t.k >= 0) & ~(whole & t.complementary)
           & (cfg.compensation == "merge"))
  c = (comp.merge_scale(a.stats["gram"], t.d, jnp.maximum(t.k, 0)) if cfg.rule == "scaled"
       else jnp.array(1.0))
  params = comp.compensate(params, group, cfg.compensation, t.d, a.stats, alive,
                           partner=t.k, c=c, use_partner=takes, constant=t.use_dead)
  kind = jnp.where(t.use_dead, REMOVED_CONSTANT,
                   jnp.where(t.use_pending | (t.fresh & whole & t.complementary),
                             REMOVED_COMPLEMENTARY,
                             jnp.where(takes, jnp.where(t.complementary, MERGED_COMPLEMENT,
                                                        MERGED), REMOVED)))
  return params, t.k, kind, jnp.where(takes, c, 0.0).astype(jnp.float32)


def describe(record_row: dict) -> list[str]:
  """One model's record of one step (host arrays) in the study's notation:
  `(k->d)` d merged into k (`(k->d)c=-0.98` with the scaled rule's c when c != 1),
  `-d` removed (complementary pairs: `-d~` for each of the two; a constant unit: `-d=`);
  under a score criterion with the merge compensation `(k->d)` names d's partner."""
  out = []
  for k, d, kind, c in zip(record_row["kept"], record_row["removed"], record_row["kind"],
                           record_row["scale"]):
    if kind in (MERGED, MERGED_COMPLEMENT):
      tag = "" if abs(c - 1.0) < 1e-6 else f"c={c:.2f}"
      out.append(f"({int(k)}->{int(d)}){tag}")
    elif kind == REMOVED_COMPLEMENTARY:
      out.append(f"-{int(d)}~")
    elif kind == REMOVED_CONSTANT:
      out.append(f"-{int(d)}=")
    else:
      out.append(f"-{int(d)}")
  return out
