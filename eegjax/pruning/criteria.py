"""The pruning criteria: one registry, and a criterion only *chooses* which unit goes.

What becomes of the chosen unit's contribution (deleted, its mean folded into the biases it
feeds, refitted by least squares from the units that stay, merged into a partner) is the
separate `compensation` axis (`eegjax.pruning.compensation`), applied the same way whatever
the criterion, so two table rows that differ in their criterion differ only in their choice.

A criterion is one of three kinds:

  pair    chooses a pair (k, d) by the angles of a Gram matrix (`pair_gram`): the study's
          distinctiveness order (`distinctiveness.choose_pair`); d is removed and k is its
          partner (the unit a `merge` compensation folds d into). A complementary pair (over
          `complementary_deg`) loses both units, one per slot.
  score   the living unit with the lowest `score` is removed.
  draw    `draw(key, alive)` picks a living unit (random).

Every criterion gets the same statistics of the group's activations over the training
patterns: "gram" (Gram matrix of the centred activations), "mean" (each unit's mean
activation), "var" (its variance) and "count" (patterns), and what it lists in `needs`
besides (e.g. "taylor"). Under every criterion a living unit whose activation is constant
over the patterns (variance zero, e.g. a dead ReLU) is removed first: it carries no
information, and folding its constant into the next biases removes it exactly.

A user adds a criterion in one place:

    from eegjax.pruning import criteria
    criteria.register(criteria.Criterion(
        "bias_size", "the unit with the smallest |bias|",
        score=lambda params, group, stats: jnp.abs(params["params"]["Dense_0"]["bias"])))

and it is then accepted by `pruning.prune`, the study binaries' `--criteria` and the
benchmark.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from eegjax.errors import ConfigError
from eegjax.pruning.surgery import UnitGroup, incoming_vectors, outgoing_norms


@dataclasses.dataclass(frozen=True)
class Criterion:
  """How one criterion chooses (exactly one of pair_gram, score, draw is given)."""
  name: str
  description: str
  pair_gram: Optional[Callable] = None    # (params, group, stats) -> (U, U) Gram matrix
  score: Optional[Callable] = None        # (params, group, stats) -> (U,) lowest first
  draw: Optional[Callable] = None         # (key, alive) -> index of a living unit
  needs: tuple[str, ...] = ()             # statistics besides gram, mean, var, count

  def __post_init__(self):
    given = [f for f in ("pair_gram", "score", "draw") if getattr(self, f) is not None]
    if len(given) != 1:
      raise ConfigError(f"criterion {self.name!r}: give exactly one of pair_gram, score or "
                        f"draw (got {given or 'none'})")

  @property
  def pairs(self) -> bool:
    return self.pair_gram is not None


_REGISTRY: dict[str, Criterion] = {}


def register(criterion: Criterion, replace: bool = False) -> Criterion:
  """Adds `criterion` to the registry (refuses a second one of the same name unless
  `replace`)."""
  if criterion.name in _REGISTRY and not replace:
    raise ConfigError(f"criterion {criterion.name!r} is registered already (replace=True "
                      "to override it)")
  _REGISTRY[criterion.name] = criterion
  return criterion


def get(name: str) -> Criterion:
  if name == "distinctiveness_masked":
    raise ConfigError("criterion 'distinctiveness_masked' is now a removal option: use "
                      "criterion distinctiveness with --masked (masked=True) and "
                      "--compensation=none (the music study's zeroed weight vectors)")
  if name not in _REGISTRY:
    raise ConfigError(f"--criteria: {name!r} is not one of {names()}")
  return _REGISTRY[name]


def names() -> list[str]:
  return list(_REGISTRY)


def random_choice(key, alive):
  """A uniformly random living unit: the r-th living one, r uniform in [0, number alive).
  A layer cut to its living units and the same layer kept whole with dead units masked
  pick the same unit."""
  r = jax.random.randint(key, (), 0, jnp.maximum(jnp.sum(alive), 1))
  return jnp.argmax(jnp.cumsum(alive) == r + 1)


def lowest_score(scores, alive):
  """Index of the living unit with the smallest score."""
  return jnp.argmin(jnp.where(alive, scores, jnp.inf))


def _weights_gram(params, group: UnitGroup, stats):
  w = incoming_vectors(params, group)
  return w @ w.T


register(Criterion(
    "distinctiveness", "Gedeon & Harris (1991): angles between the units' centred "
    "activation vectors over the training patterns; a similar pair (under similar_deg) "
    "loses one unit, a complementary pair (over complementary_deg) both",
    pair_gram=lambda params, group, stats: stats["gram"]))
register(Criterion(
    "weight_angle", "distinctiveness computed from the units' incoming weight vectors "
    "instead of their activations (the static indicator Gedeon 1995 compared with "
    "behaviour): the same thresholds and order", pair_gram=_weights_gram))
register(Criterion(
    "magnitude", "the unit whose outgoing weights have the smallest L2 norm",
    score=lambda params, group, stats: outgoing_norms(params, group)))
register(Criterion(
    "random", "a uniformly random living unit (key from seed, fold, step and slot)",
    draw=random_choice))
register(Criterion(
    "taylor", "first-order Taylor importance |mean over patterns of activation x "
    "dLoss/dactivation| (Molchanov et al. 2017), smallest first",
    score=lambda params, group, stats: stats["taylor"], needs=("taylor",)))
register(Criterion(
    "variance", "the unit whose activation varies least over the training patterns",
    score=lambda params, group, stats: stats["var"], needs=("var",)))


def constant_units(stats, centre: float):
  """(U,) bool: units whose activation is constant over the patterns (variance within
  float32 rounding of zero; `stats` "mean" and "var"), removed first under every
  criterion."""
  m = stats["mean"] - centre
  return stats["var"] <= 1e-6 * m ** 2 + 1e-12
