import numpy as np
import pytest

from eegjax.data import smni
from eegjax.data.scalp_images import azimuthal_equidistant, fit_grid, load_positions


def test_vendored_montage_covers_the_smni_scalp_electrodes():
  pos = load_positions()
  assert len(pos) == 61
  assert set(smni.CHANNELS) - set(pos) == {"X", "Y", "nd"}
  # Cz at the vertex, Fpz in front, T7 on the left
  p = azimuthal_equidistant(np.stack([pos["CZ"], pos["FPZ"], pos["T7"]]))
  assert np.linalg.norm(p[0]) < 0.1
  assert p[1, 1] > 1.0 and abs(p[1, 0]) < 0.1
  assert p[2, 0] < -1.0


def test_images_reproduce_a_linear_field_over_the_scalp():
  logged = []
  grid = fit_grid(smni.CHANNELS, size=32, log=logged.append)
  assert grid.left_out == ("X", "nd", "Y")
  assert "X, nd, Y" in logged[0]
  pts = grid.points
  # a different linear field per band, in projected coordinates; X/Y/nd get junk values
  coef = np.array([[1.0, 2.0, -0.5], [-3.0, 0.25, 1.5], [0.5, -1.0, -2.0]])
  values = np.full((64, 3), 1e6, np.float32)
  values[grid.used] = (coef[:, 0] + pts[:, :1] * coef[:, 1] + pts[:, 1:] * coef[:, 2])
  img = np.asarray(grid.images(values[None]))[0]
  assert img.shape == (32, 32, 3)
  lin = np.linspace(-np.linalg.norm(pts, axis=1).max() * 1.02,
                    np.linalg.norm(pts, axis=1).max() * 1.02, 32)
  gx, gy = np.meshgrid(lin, lin[::-1])
  for b in range(3):
    expected = coef[b, 0] + coef[b, 1] * gx + coef[b, 2] * gy
    np.testing.assert_allclose(img[..., b][grid.inside], expected[grid.inside], atol=2e-4)
    assert (img[..., b][~grid.inside] == 0).all()
  assert grid.inside.sum() > 0.6 * 32 * 32


def test_images_pass_through_the_electrode_values():
  from eegjax.data.scalp_images import interpolation_matrix
  grid = fit_grid(smni.CHANNELS, size=32, log=lambda m: None)
  at_electrodes = interpolation_matrix(grid.points, grid.points)
  np.testing.assert_allclose(at_electrodes, np.eye(len(grid.points)), atol=1e-6)
  values = np.random.default_rng(0).normal(size=(2, 64, 3)).astype(np.float32)
  assert np.asarray(grid.images(values)).shape == (2, 32, 32, 3)


def test_too_few_positions_is_an_error():
  with pytest.raises(Exception, match="at least 4 electrodes"):
    fit_grid(["X", "Y", "nd", "CZ"], log=lambda m: None)


def test_signed_images_map_zero_one_to_minus_one_one_and_minus_one_outside():
  grid = fit_grid(list(smni.CHANNELS), log=lambda m: None)
  values = np.random.default_rng(0).uniform(size=(2, 64, 3)).astype(np.float32)
  img, signed = np.asarray(grid.images(values)), np.asarray(grid.signed_images(values))
  inside = grid.inside[None, :, :, None] & np.ones_like(img, bool)
  np.testing.assert_allclose(signed[inside], 2 * img[inside] - 1, rtol=1e-6)
  assert (signed[~inside] == -1.0).all() and (~grid.inside).any()


def test_projection_onto_the_montage_keeps_drawn_images_and_smooths_others():
  """A drawn image is its own projection; any image projects to one drawn from electrode
  values (the projector is idempotent, -1 outside the head); pixel noise mostly goes."""
  import jax
  grid = fit_grid(list(smni.CHANNELS), log=lambda m: None)
  values = np.random.default_rng(1).uniform(size=(3, 64, 3)).astype(np.float32)
  drawn = grid.signed_images(values)
  np.testing.assert_allclose(np.asarray(jax.jit(grid.onto_montage)(drawn)), drawn,
                             atol=2e-5)
  noise = np.random.default_rng(2).normal(size=(3, 32, 32, 3)).astype(np.float32)
  once = np.asarray(grid.onto_montage(noise))
  np.testing.assert_allclose(np.asarray(grid.onto_montage(once)), once, atol=2e-5)
  assert (once[:, ~grid.inside] == -1.0).all()
  kept = np.linalg.norm(once[:, grid.inside]) / np.linalg.norm(noise[:, grid.inside])
  assert kept < 0.5        # 61 directions of ~740 per band survive
