"""One step of progressive pruning: choose `step` units of a hidden layer by a criterion,
merge or remove them, and cut them out of the params pytree.

Everything is a pure function of arrays with static shapes (a layer of U units becomes one
of U - step), so `jax.vmap` runs it for every (fold, seed) model at once: each model prunes
the same number of units, which units is its own choice. Unit identities are tracked in
`ids` (the original index of each remaining unit) so records use the study's numbering:
a merge is written `(k->d)`, unit d removed into unit k.

Criteria and rules:
  distinctiveness  `distinctiveness.choose_pair` picks (k, d) among living units.
      rule "paper":  similar pair -> d's outgoing weights added to k's (c = 1), d removed;
                     complementary pair -> both removed, no transfer (one per slot: chosen
                     in a step's last slot, its partner goes first in the next step).
      rule "scaled": d merged into k with the least-squares scale c of d's centred
                     activations on k's (c < 0 for a complementary pair) and the bias shift
                     of `surgery.merge_into`; exact when the vectors are collinear.
  distinctiveness_masked  the brainwave-music study's RNN variant: the same choice, but the
      pruned unit's weight vectors are zeroed (and stay zero) while the layer keeps its size;
      no transfer; a complementary pair loses both units, as in the paper rule. Its `order` is the study's (most similar partners first) or "gentle"
      (fewest first).
  weight_angle  distinctiveness computed from the units' incoming weight vectors instead
      of their activations (the static weight-matrix indicator Gedeon 1995 compared with
      behaviour): the same thresholds, order and merge rules on the weights' Gram matrix.
  taylor  the unit with the smallest first-order Taylor importance |mean over patterns of
      activation x dLoss/dactivation| (Molchanov et al. 2017), removed (no transfer).
  variance  the unit whose activation varies least over the patterns, removed with its
      mean activation folded into the biases it feeds (exact for a constant unit).
  magnitude, random  the baselines: the chosen unit is removed (no transfer).

The analysis of the activation vectors is the caller's: it is model specific (MLP layer
activations, RNN trajectories), this step is not. It comes as the Gram matrix, or as a dict
with "gram" and, for the criteria that need them, "mean" and "var" (each unit's mean
activation and its variance over the patterns) and "taylor" (the importances).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from eegjax.errors import ConfigError
from eegjax.pruning import baselines
from eegjax.pruning.distinctiveness import (ORDERS, angles_from_gram, check_thresholds,
                                            choose_pair)
from eegjax.settings import setting
from eegjax.pruning.surgery import (UnitGroup, fold_into_bias, incoming_vectors, merge_into,
                                    outgoing_norms, remove_units, zero_units)

CRITERIA = ("distinctiveness", "distinctiveness_masked", "magnitude", "random", "taylor",
            "weight_angle", "variance")
# criteria that rank units by a score (lowest removed first) and the score's source
SCORED = {"magnitude": "outgoing weight norm", "taylor": "taylor", "variance": "var"}
RULES = ("paper", "scaled")
# What happened to the unit removed in a slot.
MERGED, MERGED_COMPLEMENT, REMOVED_COMPLEMENTARY, REMOVED = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class PruneConfig:
  """How a layer is pruned, whatever the study (a study's pruning flags are these)."""
  criterion: str = "distinctiveness"
  rule: str = setting("paper", "paper (outgoing weights added; complementary pairs both "
                      "removed) or scaled (least-squares scale c, bias shift)",
                      flag="merge_rule")
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

  @property
  def masked(self) -> bool:
    return self.criterion.endswith("_masked")

  @property
  def chooses_pairs(self) -> bool:
    return self.criterion.startswith("distinctiveness") or self.criterion == "weight_angle"

  @property
  def needs(self) -> tuple[str, ...]:
    """What the criterion needs from the caller's analysis besides the Gram matrix."""
    return {"taylor": ("taylor",), "variance": ("mean", "var")}.get(self.criterion, ())

  def __post_init__(self):
    if self.criterion not in CRITERIA:
      raise ConfigError(f"--criteria: {self.criterion!r} is not one of {list(CRITERIA)}")
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


def prune_step(params, ids, gram, key, group: UnitGroup, cfg: PruneConfig, alive=None,
               pending=None, keep_shape: bool = False):
  """Prunes cfg.step units of `group` from one model.

  params: the model's params; ids: (U,) original indices of its units; gram: (U, U) Gram
  matrix of the layer's centred activations over the training patterns; key: for the
  random criterion; alive: (U,) bool, the units not yet pruned (masked variant; default
  all); pending: the previous step's `record["pending"]`, [original id, angle] of a
  complementary partner still to be removed (id -1 or None: none).

  Returns (params, ids, alive, record, within). Structurally the params, ids and alive
  have U - step units; masked, or with `keep_shape`, the size stays and the pruned units
  are zeroed and marked dead (keep_shape: after the criterion's merge, so the network
  computes what the cut one computes, and one compiled step serves every width). record holds (step,) arrays `kept` (original id of k, -1 if none), `removed`
  (original id of d), `kind` (MERGED ...), `angle` (of the pair that slot acted on),
  `scale`, and `pending`: with the paper rule and the masked variant a complementary pair
  loses both units, one per slot; when it is chosen in a step's last slot its partner is
  removed in the next step's first slot. `within` says every pair choice was inside the
  thresholds.
  """
  units = ids.shape[0]
  alive = jnp.ones(units, bool) if alive is None else alive
  if cfg.step >= units:
    raise ConfigError(f"cannot prune {cfg.step} units from a layer of {units}: at least one "
                      "must remain")
  stats = gram if isinstance(gram, dict) else {"gram": gram}
  missing = [k for k in cfg.needs if k not in stats]
  if missing:
    raise ConfigError(f"criterion {cfg.criterion} needs {missing} in the analysis passed "
                      "to prune_step")
  gram = stats["gram"]
  if cfg.criterion == "weight_angle":
    w = incoming_vectors(params, group)
    gram = w @ w.T
  angles = angles_from_gram(gram)
  norms = outgoing_norms(params, group)
  pending = jnp.asarray([-1.0, 0.0] if pending is None else pending, jnp.float32)
  pid, pending_angle = pending[0].astype(jnp.int32), pending[1]
  pending = jnp.where(pid >= 0, jnp.argmax(ids == pid), -1).astype(jnp.int32)
  pairs_removed_whole = cfg.masked or (cfg.criterion in ("distinctiveness", "weight_angle")
                                       and cfg.rule == "paper")
  within_all = jnp.array(True)
  rec = {k: [] for k in ("kept", "removed", "kind", "angle", "scale")}
  for slot in range(cfg.step):
    if cfg.chooses_pairs:
      k, d, angle, within = choose_pair(angles, alive, cfg.similar_deg,
                                        cfg.complementary_deg, True, cfg.order)
      complementary = angle > 90.0
      if cfg.rule == "scaled" and not cfg.masked:
        gkk = gram[k, k]
        c = jnp.where(gkk > 0, gram[d, k] / jnp.where(gkk > 0, gkk, 1.0), 0.0)
        merge = jnp.array(True)
        kind = jnp.where(complementary, MERGED_COMPLEMENT, MERGED)
      else:
        c = jnp.array(1.0)
        merge = ~complementary & (not cfg.masked)
        kind = jnp.where(complementary, REMOVED_COMPLEMENTARY,
                         REMOVED if cfg.masked else MERGED)
    else:
      if cfg.criterion == "random":
        d = baselines.random_choice(jax.random.fold_in(key, slot), alive)
      else:
        score = norms if cfg.criterion == "magnitude" else stats[SCORED[cfg.criterion]]
        d = baselines.lowest_score(score, alive)
        if cfg.criterion == "variance":
          params = fold_into_bias(params, group, d, stats["mean"][d])
      k, angle, within = jnp.array(-1), jnp.array(jnp.nan), jnp.array(True)
      c, merge, kind = jnp.array(0.0), jnp.array(False), jnp.array(REMOVED)
    if pairs_removed_whole:
      # a pending complementary partner is removed in this slot instead; a newly chosen
      # complementary pair leaves its partner pending
      has_pending = pending >= 0
      new_pending = jnp.where(~has_pending & complementary, k, -1)
      new_angle = angle.astype(jnp.float32)
      d = jnp.where(has_pending, pending, d)
      k = jnp.where(has_pending, -1, k)
      angle = jnp.where(has_pending, pending_angle, angle)
      merge = merge & ~has_pending
      kind = jnp.where(has_pending, REMOVED_COMPLEMENTARY, kind)
      within = within | has_pending
      pending = new_pending.astype(jnp.int32)
      pending_angle = jnp.where(has_pending, pending_angle, new_angle)
    merged = merge_into(params, group, d, jnp.maximum(k, 0), c)
    params = jax.tree.map(lambda m, p: jnp.where(merge, m, p), merged, params)
    alive = alive.at[d].set(False)
    within_all = within_all & within
    rec["kept"].append(jnp.where(k >= 0, ids[jnp.maximum(k, 0)], -1))
    rec["removed"].append(ids[d])
    rec["kind"].append(jnp.asarray(kind, jnp.int32))
    rec["angle"].append(jnp.asarray(angle, jnp.float32))
    rec["scale"].append(jnp.where(merge, c, 0.0).astype(jnp.float32))
  record = {k: jnp.stack(v) for k, v in rec.items()}
  record["pending"] = jnp.stack([
      jnp.where(pending >= 0, ids[jnp.maximum(pending, 0)], -1).astype(jnp.float32),
      jnp.where(pending >= 0, pending_angle, 0.0).astype(jnp.float32)])
  if cfg.masked or keep_shape:
    return zero_units(params, group, alive), ids, alive, record, within_all
  keep = jnp.nonzero(alive, size=units - cfg.step)[0]
  params = remove_units(params, group, keep)
  return params, ids[keep], jnp.ones(units - cfg.step, bool), record, within_all


def describe(record_row: dict) -> list[str]:
  """One model's record of one step (host arrays) in the study's notation:
  `(k->d)` d merged into k (`(k->d)c=-0.98` with the scaled rule's c when c != 1),
  `-d` removed (complementary pairs: `-d~` for each of the two)."""
  out = []
  for k, d, kind, c in zip(record_row["kept"], record_row["removed"], record_row["kind"],
                           record_row["scale"]):
    if kind in (MERGED, MERGED_COMPLEMENT):
      tag = "" if abs(c - 1.0) < 1e-6 else f"c={c:.2f}"
      out.append(f"({int(k)}->{int(d)}){tag}")
    elif kind == REMOVED_COMPLEMENTARY:
      out.append(f"-{int(d)}~")
    else:
      out.append(f"-{int(d)}")
  return out
