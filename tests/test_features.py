import jax
import numpy as np
import pytest

from eegjax.data.dataset import DataError, DatasetInfo, make_dataset
from eegjax.data.features import FEATURE_NAMES, channel_features, trial_features

F = {n: i for i, n in enumerate(FEATURE_NAMES)}
# compiled, as trial_features runs it (eagerly each of its ~150 operations would compile
# on its own, per trial length: most of this module's time)
_channel_features = jax.jit(channel_features, static_argnums=2)


def feats(x, fs=100.0, length=None):
  x = np.asarray(x, np.float32)
  return np.asarray(_channel_features(x, np.int32(len(x) if length is None else length), fs))


def test_twenty_five_named_features():
  assert len(FEATURE_NAMES) == 25 and len(set(FEATURE_NAMES)) == 25


def test_amplitude_features_hand_computed():
  x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
  f = feats(x)
  mean, var = 4.0, np.mean((x - 4.0) ** 2)
  np.testing.assert_allclose(f[F["mean"]], mean, rtol=1e-6)
  np.testing.assert_allclose(f[F["std"]], np.sqrt(var), rtol=1e-6)
  np.testing.assert_allclose(f[F["hjorth_activity"]], var, rtol=1e-6)
  assert f[F["min"]] == 1.0 and f[F["max"]] == 10.0 and f[F["median"]] == 3.0
  np.testing.assert_allclose(f[F["iqr"]], 4.0 - 2.0, rtol=1e-6)
  skew = np.mean((x - mean) ** 3) / var ** 1.5
  np.testing.assert_allclose(f[F["skewness"]], skew, rtol=1e-5)
  np.testing.assert_allclose(f[F["line_length"]], np.mean(np.abs(np.diff(x))), rtol=1e-6)
  # x - mean = [-3, -2, -1, 0, 6]: no neighbours of strictly opposite sign
  np.testing.assert_allclose(f[F["zero_crossing_rate"]], 0.0)
  np.testing.assert_allclose(feats([1.0, -1.0, 1.0, -1.0, 1.0])[F["zero_crossing_rate"]],
                             1.0, rtol=1e-6)


def test_alpha_sinusoid_spectrum():
  fs, t = 128.0, np.arange(512) / 128.0
  f = feats(np.sin(2 * np.pi * 10.0 * t), fs)
  assert f[F["peak_freq"]] == pytest.approx(10.0, abs=0.3)
  assert f[F["rel_alpha"]] > 0.95
  rel = [f[F[k]] for k in ("rel_delta", "rel_theta", "rel_alpha", "rel_beta", "rel_gamma")]
  assert sum(rel) == pytest.approx(1.0, abs=1e-4)
  # a sinusoid of frequency w (radians per sample) has Hjorth mobility ~ w
  assert f[F["hjorth_mobility"]] == pytest.approx(2 * np.pi * 10 / fs, rel=0.02)
  assert f[F["zero_crossing_rate"]] == pytest.approx(20 / fs, rel=0.05)


def test_padding_never_enters():
  rng = np.random.default_rng(0)
  x = rng.normal(size=200)
  padded = np.r_[x, 1e3 * rng.normal(size=56)]
  a = feats(x)
  b = feats(padded, length=200)
  sel = [F[k] for k in FEATURE_NAMES if k not in
         ("rel_delta", "rel_theta", "rel_alpha", "rel_beta", "rel_gamma", "log_power",
          "peak_freq", "spectral_centroid", "spectral_edge_95", "spectral_entropy",
          "log_theta_beta")]
  np.testing.assert_allclose(a[sel], b[sel], rtol=1e-4, atol=1e-5)
  # spectra use the zero-padded trial: same signal content, finer frequency grid
  assert abs(a[F["rel_alpha"]] - b[F["rel_alpha"]]) < 0.05


def test_trial_features_dataset():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(6, 64, 2)).astype(np.float32)
  info = DatasetInfo(name="t", source="test", real=False, sampling_rate=64.0,
                     channel_names=("Cz", "Pz"))
  ds = make_dataset(x, [0, 1] * 3, ("a", "b"), info, lengths=[64, 40, 64, 30, 64, 64])
  out = trial_features(ds)
  assert out.x.shape == (6, 50)
  assert out.info.feature_names[0] == "Cz:mean" and out.info.feature_names[25] == "Pz:mean"
  time_domain = slice(0, F["rel_delta"])      # spectra depend on the padded grid
  np.testing.assert_allclose(out.x[1, time_domain], feats(x[1, :40, 0], 64.0)[time_domain],
                             rtol=1e-4, atol=1e-5)
  with pytest.raises(DataError, match="already holds features"):
    trial_features(out)
  no_rate = ds.replace(info=DatasetInfo(name="t", source="x", real=False))
  with pytest.raises(DataError, match="--sampling_rate"):
    trial_features(no_rate)


@pytest.mark.parametrize("freq,band", [(10.0, 1), (6.0, 0), (20.0, 2)])
def test_band_power_of_a_pure_sinusoid_lands_in_its_band(freq, band):
  from eegjax.data.features import band_power
  fs, steps = 256.0, 256
  t = np.arange(steps) / fs
  x = (2.0 * np.sin(2 * np.pi * freq * t) + 0.7)[None, :, None].astype(np.float32)
  p = np.asarray(band_power(x, fs))[0, 0]         # theta, alpha, beta
  assert p[band] == pytest.approx(2.0, rel=1e-4)  # A^2 / 2, the DC offset removed
  assert np.delete(p, band).max() < 1e-6 * p[band]


def test_band_power_features_are_electrode_major():
  from eegjax.data.features import band_power_features
  x = np.random.default_rng(0).normal(size=(3, 256, 4)).astype(np.float32)
  f, names = band_power_features(x, 256.0, ("A", "B", "C", "D"))
  assert f.shape == (3, 12)
  assert names[:4] == ("A_theta", "A_alpha", "A_beta", "B_theta")
  # white noise: each band's share of the variance is about its share of 0-128 Hz
  total = x.var(axis=1).mean()
  assert np.asarray(f)[:, 2::3].mean() == pytest.approx(total * 17 / 128, rel=0.25)
