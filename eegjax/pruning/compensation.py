"""What becomes of a removed unit's contribution: the compensation axis, applied the same
way whatever criterion chose the unit (`eegjax.pruning.criteria`).

  none           the unit is deleted with its outgoing weights: its whole contribution,
                 mean included, is dropped from the next layer.
  mean           its training-mean activation is folded into the biases it feeds
                 (bias += mean x outgoing weights): exact for a constant unit, and what a
                 removed unit is worth on average.
  least_squares  the next layer's incoming weights from the units that stay are refitted
                 to reconstruct the removed unit's contribution over the training patterns:
                 a_d ~ sum_k beta_k a_k + beta_0 by least squares over the patterns (from the
                 Gram matrix, the sums and the count: no second pass over the data), then
                 outgoing[k] += beta_k outgoing[d] and the fed biases take beta_0's share.
                 Minimising the next layer's reconstruction error of d's contribution splits
                 into this one regression (it is rank one), so it is the best linear refit
                 from the kept units; exact when a_d is an affine function of them.
  merge          distinctiveness's own rule: the removed unit is folded into a partner
                 (`rule` paper: its outgoing weights added, c = 1; scaled: c times them, c
                 the least-squares scale of its centred activation on the partner's, and the
                 bias shift of `surgery.merge_into`). A pair criterion's partner is the
                 other unit of the chosen pair; a score criterion's is the living unit
                 nearest by activation angle. A unit with no partner -- the two units of a
                 complementary pair under the paper rule -- is deleted, as in the paper;
                 a constant unit is folded into the biases as under `mean`.

Statistics (the study's analysis dict): "gram" (Gram matrix of the activations minus the
group's centre), "mean" (each unit's mean activation) and "count" (patterns). A fed bias
exists for dense and convolutional next layers; through a recurrent kernel or a layer
without a bias the constant part cannot be placed and is dropped (as `surgery` documents).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegjax.errors import ConfigError
from eegjax.pruning.surgery import UnitGroup, fold_into_bias, merge_into, spread_into

COMPENSATIONS = ("none", "mean", "least_squares", "merge")
NEEDS = {"none": (), "mean": ("mean",), "least_squares": ("gram", "mean", "count"),
         "merge": ("gram",)}
# the ridge added to the least-squares system, relative to each diagonal entry: keeps a
# system with collinear units (a similar pair) solvable without moving a well-posed fit
RIDGE = 1e-5


def check(name: str) -> None:
  if name not in COMPENSATIONS:
    raise ConfigError(f"--compensation: {name!r} is not one of {list(COMPENSATIONS)}")


def least_squares_fit(stats, d, keep, centre: float):
  """(beta (U,), shift): a_d ~ sum_k beta_k a_k + shift over the patterns, k in `keep`
  ((U,) bool; beta is 0 elsewhere), from the statistics of the centred activations."""
  g = stats["gram"]
  n = jnp.maximum(stats["count"], 1.0)
  t = (stats["mean"] - centre) * n                         # sums of the centred rows
  units = g.shape[0]
  m = jnp.block([[g, t[:, None]], [t[None, :], n[None, None]]])
  rhs = jnp.concatenate([g[:, d], t[d][None]])
  use = jnp.concatenate([keep, jnp.array([True])])
  both = use[:, None] & use[None, :]
  diag = jnp.diagonal(m)
  m = jnp.where(both, m, 0.0) + jnp.diag(jnp.where(use, RIDGE * diag + 1e-12, 1.0))
  sol = spd_solve(m, jnp.where(use, rhs, 0.0))
  beta = jnp.where(keep, sol[:units], 0.0)
  # centred: x_d ~ beta . x_K + beta_0, so a_d ~ beta . a_K + centre (1 - sum beta) + beta_0
  return beta, centre * (1.0 - jnp.sum(beta)) + sol[units]


def spd_solve(m, b):
  """x with m x = b for a symmetric positive definite m, by Gauss-Jordan elimination
  without pivoting (stable for SPD matrices) in plain array operations: no LAPACK call,
  which on XLA's CPU backend stalled when the models were spread over several host
  devices."""
  n = m.shape[0]
  a = jnp.concatenate([m, b[:, None]], axis=1)

  def eliminate(i, a):
    row = a[i] / a[i, i]
    factor = a[:, i].at[i].set(0.0)
    return (a - factor[:, None] * row[None, :]).at[i].set(row)

  return jax.lax.fori_loop(0, n, eliminate, a)[:, n]


def nearest_partner(angles, alive, d, folded: bool):
  """The living unit other than d nearest to d by activation angle (folded: the smallest
  min(angle, 180 - angle), so an opposite unit counts as near)."""
  a = angles[d]
  a = jnp.minimum(a, 180.0 - a) if folded else a
  others = alive.at[d].set(False)
  return jnp.argmin(jnp.where(others, a, jnp.inf))


def merge_scale(gram, d, k):
  """Least-squares c of d's centred activation on k's: G[d, k] / G[k, k]."""
  gkk = gram[k, k]
  return jnp.where(gkk > 0, gram[d, k] / jnp.where(gkk > 0, gkk, 1.0), 0.0)


def _where(flag, a, b):
  return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


def compensate(params, group: UnitGroup, name: str, d, stats, alive, *, partner=None,
               c=1.0, use_partner=True, constant=False):
  """Folds removed unit d's contribution into the rest of `params` by compensation `name`
  (before d is zeroed or cut). `alive` still marks d. For `merge`: `partner` (index, or
  -1), its scale `c` and whether the partner takes d (`use_partner`, traced); a
  `constant` unit (traced bool) is folded into the biases instead."""
  if name == "none":
    return params
  if name == "mean":
    return fold_into_bias(params, group, d, stats["mean"][d])
  if name == "least_squares":
    beta, shift = least_squares_fit(stats, d, alive.at[d].set(False), group.centre)
    return spread_into(params, group, d, beta, shift)
  if name == "merge":
    has = use_partner & (partner >= 0) & ~constant
    if not isinstance(has, jax.core.Tracer):   # on the host: only the edit that applies
      if bool(has):
        return merge_into(params, group, d, partner, c)
      if bool(constant) and "mean" in stats:
        return fold_into_bias(params, group, d, stats["mean"][d])
      return params
    merged = merge_into(params, group, d, jnp.maximum(partner, 0), c)
    folded = (fold_into_bias(params, group, d, stats["mean"][d]) if "mean" in stats
              else params)
    return _where(has, merged, _where(constant, folded, params))
  raise ConfigError(f"--compensation: {name!r} is not one of {list(COMPENSATIONS)}")
