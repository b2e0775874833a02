"""Baseline pruning criteria under the same interface as distinctiveness: each picks the
next unit to remove among living units (no merging), so tables compare criteria at equal
size.

  magnitude  the unit whose outgoing weights have the smallest L2 norm
             (`surgery.outgoing_norms`); taylor and variance rank by their own scores
             the same way (`lowest_score`)
  random     a uniformly random living unit (key from seed, fold, step and slot); the
             draw is a rank among the living units, so a layer cut to its living units
             and the same layer kept whole with dead units masked pick the same unit
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def lowest_score(scores, alive):
  """Index of the living unit with the smallest score (magnitude: its outgoing norm;
  taylor: its importance; variance: its activation's variance)."""
  return jnp.argmin(jnp.where(alive, scores, jnp.inf))


def random_choice(key, alive):
  """Index of a uniformly random living unit: the r-th living one, r uniform in
  [0, number alive)."""
  r = jax.random.randint(key, (), 0, jnp.maximum(jnp.sum(alive), 1))
  return jnp.argmax(jnp.cumsum(alive) == r + 1)
