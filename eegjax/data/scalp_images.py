"""EEG images: per-electrode band powers drawn on a 2-D map of the scalp.

Electrode positions are the 10-05 positions vendored in third_party/montage (with their
provenance). Each 3-D position is projected to 2-D with the azimuthal equidistant
projection about the vertex: the angle from the top of the head becomes the distance from
the image centre, so distances along the scalp from Cz are kept. Values are interpolated
onto a G x G grid per band by a thin-plate spline with a linear term, solved once per
montage and applied as one matrix product: it passes through every electrode's value, is
smooth between them, and reproduces any linear field exactly. Pixels farther from the
centre than the outermost electrode are outside the head and set to 0.

Electrodes without a position (the SMNI X, Y and nd channels) are reported and left out.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from eegjax.data.registry import THIRD_PARTY
from eegjax.errors import DataError

MONTAGE_FILE = os.path.join(THIRD_PARTY, "montage", "smni_electrodes_1005.tsv")


def load_positions(path: str = MONTAGE_FILE) -> dict[str, np.ndarray]:
  """{electrode name (SMNI spelling): xyz in mm} from the vendored montage table."""
  if not os.path.exists(path):
    raise DataError(f"{path}: the electrode position table is missing (it ships in the "
                    "repository's third_party/montage folder)")
  out = {}
  with open(path, encoding="utf-8") as f:
    header = f.readline().rstrip("\n").split("\t")
    if header[:1] != ["smni_name"] or header[-3:] != ["x_mm", "y_mm", "z_mm"]:
      raise DataError(f"{path}, line 1: expected columns smni_name ... x_mm y_mm z_mm")
    for lineno, line in enumerate(f, 2):
      parts = line.rstrip("\n").split("\t")
      try:
        out[parts[0]] = np.array([float(v) for v in parts[-3:]])
      except (ValueError, IndexError):
        raise DataError(f"{path}, line {lineno}: expected a name and 3 coordinates") \
            from None
  return out


def azimuthal_equidistant(xyz: np.ndarray) -> np.ndarray:
  """(n, 3) positions -> (n, 2): direction from the head's centre to the electrode, then
  its polar angle from the vertex (+z) as the radius and its azimuth as the angle."""
  v = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
  theta = np.arccos(np.clip(v[:, 2], -1.0, 1.0))
  phi = np.arctan2(v[:, 1], v[:, 0])
  return np.stack([theta * np.cos(phi), theta * np.sin(phi)], axis=1)


def _tps(r2):
  """Thin-plate kernel r^2 log r, written with r^2 (0 at r = 0)."""
  return np.where(r2 > 0, 0.5 * r2 * np.log(np.where(r2 > 0, r2, 1.0)), 0.0)


def interpolation_matrix(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """(T, n) matrix M with M @ values = the thin-plate spline (with linear term) through
  (points, values), evaluated at `targets` (T, 2)."""
  n = len(points)
  # [K P; P^T 0] [w; a] = [values; 0], solved once for the identity "values".
  k = _tps(((points[:, None] - points[None]) ** 2).sum(-1))
  p = np.concatenate([np.ones((n, 1)), points], axis=1)
  system = np.zeros((n + 3, n + 3))
  system[:n, :n], system[:n, n:], system[n:, :n] = k, p, p.T
  rhs = np.zeros((n + 3, n))
  rhs[:n] = np.eye(n)
  coef = np.linalg.solve(system, rhs)
  kt = _tps(((targets[:, None] - points[None]) ** 2).sum(-1))
  pt = np.concatenate([np.ones((len(targets), 1)), targets], axis=1)
  return kt @ coef[:n] + pt @ coef[n:]


@dataclasses.dataclass(frozen=True)
class ScalpGrid:
  """A fitted interpolation from electrode values to a G x G image."""
  channels: tuple[str, ...]       # electrodes used, in input order
  used: np.ndarray                # (C_all,) bool: which input channels have a position
  weights: np.ndarray             # (G*G, C_used): image = weights @ values
  inside: np.ndarray              # (G, G) bool: pixel within the head
  points: np.ndarray              # (C_used, 2) projected positions
  size: int
  left_out: tuple[str, ...]       # channels without a position

  def images(self, values) -> jnp.ndarray:
    """values (..., C_all, B) per electrode and band -> images (..., G, G, B)."""
    v = jnp.asarray(values)[..., self.used, :]
    img = jnp.einsum("pc,...cb->...pb", jnp.asarray(self.weights, v.dtype), v)
    img = img.reshape(img.shape[:-2] + (self.size, self.size, img.shape[-1]))
    return img * jnp.asarray(self.inside, v.dtype)[..., None]

  def projector(self) -> np.ndarray:
    """(I, I) over the I pixels inside the head: the orthogonal projection of an image
    band onto the images this grid draws (the span of its interpolation weights, which
    holds the constants: the interpolation reproduces linear fields). A drawn image is
    its own projection."""
    q, _ = np.linalg.qr(self.weights.reshape(self.size, self.size, -1)[self.inside]
                        .astype(np.float64))
    return (q @ q.T).astype(np.float32)

  def onto_montage(self, images, projector=None) -> jnp.ndarray:
    """Images (B, G, G, bands) -> the nearest images (least squares, per band, inside the
    head) this grid can draw from electrode values, -1 outside the head."""
    p = jnp.asarray(self.projector() if projector is None else projector)
    idx = np.flatnonzero(self.inside)                        # static under jit
    b, g, _, c = images.shape
    flat = images.reshape(b, g * g, c)
    out = jnp.full(flat.shape, -1.0, images.dtype)
    out = out.at[:, idx].set(jnp.einsum("ij,bjc->bic", p, flat[:, idx]).astype(images.dtype))
    return out.reshape(images.shape)

  def signed_images(self, values) -> jnp.ndarray:
    """`images` of values scaled to [0, 1], mapped to [-1, 1] with -1 outside the head
    (the GAN's image range: a tanh generator's output)."""
    img = self.images(values)
    return jnp.where(jnp.asarray(self.inside)[..., None], 2.0 * img - 1.0, -1.0)


def fit_grid(channel_names: Sequence[str], size: int = 32, positions=None,
             log=print) -> ScalpGrid:
  """The interpolation for these channels (positions from the vendored montage unless
  given); channels without a position are reported through `log` and left out."""
  positions = load_positions() if positions is None else positions
  used = np.array([c in positions for c in channel_names])
  missing = [c for c, u in zip(channel_names, used) if not u]
  if missing:
    log(f"EEG images: no scalp position for {', '.join(missing)}; left out of the images")
  names = [c for c, u in zip(channel_names, used) if u]
  if len(names) < 4:
    raise DataError(f"EEG images need at least 4 electrodes with a scalp position; of the "
                    f"channels {list(channel_names)[:8]}{' ...' if len(channel_names) > 8 else ''}"
                    f" only {names} have one (10-05 names, as in {MONTAGE_FILE})")
  pts = azimuthal_equidistant(np.stack([positions[c] for c in names]))
  radius = np.linalg.norm(pts, axis=1).max() * 1.02
  lin = np.linspace(-radius, radius, size)
  gx, gy = np.meshgrid(lin, lin[::-1])           # row 0 = front of the head (+y)
  grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
  weights = interpolation_matrix(pts, grid)
  inside = (np.linalg.norm(grid, axis=1) <= radius).reshape(size, size)
  return ScalpGrid(tuple(names), used, weights.astype(np.float32), inside, pts, size,
                   tuple(missing))
