"""Distinctiveness (Gedeon & Harris 1991): angles between hidden units' activation vectors.

A unit's activation vector is its output over every training pattern, centred (sigmoid
output minus 0.5; tanh needs none). Two units whose vectors are nearly parallel (angle under
`similar_deg`, 15 by default) do the same job; nearly opposite vectors (over
`complementary_deg`, 165) cancel each other. The whole angle matrix is one Gram matrix
product, A^T A, so it scales to thousands of units and 10^5 patterns; patterns can be
accumulated in chunks (`gram` is additive; `eegjax.pruning.activations` does so for any
model's discovered groups), and padded patterns carry weight 0.

All functions are jit- and vmap-friendly (fixed shapes; dead units are masked, not cut).
The angles, the pair mask and the minimum angle are jitted themselves: called eagerly (the
public `prune` measures every step so) each is one compiled program per shape rather than
one per operation, the same arithmetic.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


GRAM_CHUNK = 2048


def _gram(acts, centre, weights):
  a = acts - centre
  if weights is not None:
    a = a * weights[:, None].astype(a.dtype)
  return jnp.einsum("pu,pv->uv", a, a, precision=jax.lax.Precision.HIGHEST)


def gram(acts, centre: float = 0.5, weights=None):
  """A^T A of centred activations `acts` (patterns, units); `weights` (patterns,) in {0, 1}
  drop padded patterns. Sums of Gram matrices of pattern chunks equal the whole one.

  The centring is exact (no A^T A - rank-one correction, which cancels in float32). Over
  many patterns it runs GRAM_CHUNK patterns at a time, so each centred chunk is still in
  cache when the matmul reads it: one pass over memory, like a plain matmul."""
  p, units = acts.shape
  full = p // GRAM_CHUNK
  if full < 2:
    return _gram(acts, centre, weights)
  cut = full * GRAM_CHUNK
  w = None if weights is None else weights[:cut].reshape(full, GRAM_CHUNK)

  def add(total, i):
    a = jax.lax.dynamic_slice_in_dim(acts, i * GRAM_CHUNK, GRAM_CHUNK)
    wi = None if w is None else w[i]
    return total + _gram(a, centre, wi), None

  total, _ = jax.lax.scan(add, jnp.zeros((units, units), jnp.float32), jnp.arange(full))
  if cut < p:
    total = total + _gram(acts[cut:], centre, None if weights is None else weights[cut:])
  return total


def map_gram(maps, weights=None, centre: float = 0.0):
  """Gram matrix of conv channels: each channel's activation vector is its feature map
  over every pattern x position, maps (B, H, W, C); `weights` (B,) drop padded patterns."""
  b, h, w, c = maps.shape
  rows = maps.reshape(b * h * w, c)
  wr = None if weights is None else jnp.repeat(weights, h * w)
  return gram(rows, centre, wr)


@jax.jit
def angles_from_gram(g):
  """Pairwise angles in degrees, (units, units). A unit whose vector is zero (constant
  output) has no direction: its angles are reported as 90 (orthogonal to everything).
  The Gram matrix is symmetrised first (a matrix product need not round both triangles
  alike), so the two units of a pair see one angle and a tie between them is a true tie,
  broken by unit order whatever the layer's layout.

  Near 0 and 180 degrees arccos magnifies one float32 rounding of the cosine to about
  0.02 degrees (ANGLE_RESOLUTION_DEG), so the cosine is formed with as few roundings as
  possible: the matrix is scaled by a power of two (exact) and divided by
  sqrt(g_uu * g_vv), one rounding, rather than by sqrt(g_uu) * sqrt(g_vv), three. Two units
  whose Gram entries are equal (a unit and its exact duplicate) then get exactly 0 degrees
  (sqrt(fl(x * x)) == x in IEEE arithmetic) on every CPU, instead of 0 or 0.0198 depending
  on how the instruction set rounds."""
  g = 0.5 * (g + jnp.swapaxes(g, -1, -2))
  diag = jnp.clip(jnp.diagonal(g, axis1=-2, axis2=-1), 0.0)
  _, exponent = jnp.frexp(jnp.max(diag, axis=-1, keepdims=True))
  scale = jnp.ldexp(jnp.ones_like(diag[..., :1]), -exponent)   # 2**-e: exact, no overflow
  d = diag * scale
  denom = jnp.sqrt(d[..., :, None] * d[..., None, :])
  ok = denom > 1e-12 * scale[..., None]
  cos = jnp.where(ok, (g * scale[..., None]) / jnp.where(ok, denom, 1.0), 0.0)
  return jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))


# arccos(1 - 2**-24) in degrees: the smallest nonzero angle a float32 cosine can express,
# and so the resolution of any angle computed from a float32 Gram matrix near 0 or 180
# degrees (elsewhere it is far finer). Comparisons of angles between two computations
# (another layout, another instruction set) hold to a few of these near the ends.
ANGLE_RESOLUTION_DEG = 0.0198


def angle_matrix(acts, centre: float = 0.5, weights=None):
  """Pairwise angles (degrees) between the units' centred activation vectors."""
  return angles_from_gram(gram(acts, centre, weights))


@jax.jit
def pair_mask(alive):
  n = alive.shape[0]
  return alive[:, None] & alive[None, :] & ~jnp.eye(n, dtype=bool)


@jax.jit
def min_angle(angles, alive=None):
  """Smallest angle between two distinct living units (the study's tracked quantity);
  inf when fewer than two units live."""
  alive = jnp.ones(angles.shape[0], bool) if alive is None else alive
  return jnp.min(jnp.where(pair_mask(alive), angles, jnp.inf))


def similar_mask(angles, alive=None, similar_deg: float = 15.0):
  """(units, units) bool: pairs of distinct living units under `similar_deg`."""
  alive = jnp.ones(angles.shape[0], bool) if alive is None else alive
  return pair_mask(alive) & (angles < similar_deg)


def complementary_mask(angles, alive=None, complementary_deg: float = 165.0):
  """(units, units) bool: pairs of distinct living units over `complementary_deg`."""
  alive = jnp.ones(angles.shape[0], bool) if alive is None else alive
  return pair_mask(alive) & (angles > complementary_deg)


def check_thresholds(similar_deg: float, complementary_deg: float) -> None:
  """Raises ConfigError unless 0 < similar < complementary < 180."""
  from eegjax.errors import ConfigError
  if not 0.0 < similar_deg < complementary_deg < 180.0:
    raise ConfigError(f"--similar_deg={similar_deg} --complementary_deg={complementary_deg}: "
                      "expected 0 < similar_deg < complementary_deg < 180")


ORDERS = ("study", "gentle")


def choose_pair(angles, alive, similar_deg: float = 15.0, complementary_deg: float = 165.0,
                allow_complementary=True, order: str = "study"):
  """The study's choice of the next pair to prune among living units.

  Candidates are pairs under `similar_deg` (and over `complementary_deg` when
  `allow_complementary`). Units are ranked by how many candidate partners they have: most
  first in the study's order, fewest (but at least one) first in its "gentle" order; ties go
  to the unit with the least distinct partner, i.e. the smallest folded angle
  min(angle, 180 - angle). The chosen unit k keeps living and its least distinct candidate
  partner d is the one pruned. With no candidate within the thresholds the least distinct
  pair overall is chosen and `within` is False (the caller decides whether to accept it).

  Returns (k, d, angle between them, within).
  """
  pair = pair_mask(alive)
  folded = jnp.minimum(angles, 180.0 - angles)
  cand = pair & ((angles < similar_deg) | (allow_complementary & (angles > complementary_deg)))
  within = cand.any()
  fallback = pair & (allow_complementary | (angles <= 90.0))
  fallback = jnp.where(fallback.any(), fallback, pair)
  cand = jnp.where(within, cand, fallback)
  count = cand.sum(axis=1)
  nearest = jnp.min(jnp.where(cand, folded, jnp.inf), axis=1)
  rank = count * 1000.0 if order == "study" else -count * 1000.0
  rank = jnp.where(within, rank, 0.0)      # fallback: the least distinct pair, not counts
  score = jnp.where(count > 0, rank - nearest, -jnp.inf)
  k = jnp.argmax(score)
  d = jnp.argmin(jnp.where(cand[k], folded[k], jnp.inf))
  return k, d, angles[k, d], within
