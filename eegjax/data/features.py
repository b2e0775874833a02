"""Per-trial statistical EEG features: 25 per channel, in the spirit of the brainwave-music
study's 25 statistical features. Computed in jnp, vmapped over channels and trials, and
restricted to each trial's true length (padding never enters a statistic).

The default set, in order (x: the channel's samples; d1, d2: first and second differences;
P: periodogram of the mean-removed trial, bands in Hz):

  amplitude   mean, std, min, max, median, iqr (75th - 25th percentile),
              skewness, kurtosis (excess)
  dynamics    hjorth_activity (variance), hjorth_mobility sqrt(var d1 / var x),
              hjorth_complexity (mobility of d1 / mobility of x), line_length (mean |d1|),
              zero_crossing_rate (sign changes of x - mean per sample), mean_abs_d2
  spectrum    rel_delta [0.5, 4), rel_theta [4, 8), rel_alpha [8, 13), rel_beta [13, 30),
              rel_gamma [30, 45] (each band's share of the 0.5-45 Hz power; bands are cut at
              the Nyquist frequency), log_power (log mean power in 0.5-45 Hz per sample),
              peak_freq, spectral_centroid, spectral_edge_95 (frequency below which 95% of
              the power lies), spectral_entropy (normalised to [0, 1]),
              log_theta_beta (log of theta over beta power)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.data.dataset import DataError, Dataset

FEATURE_NAMES = (
    "mean", "std", "min", "max", "median", "iqr", "skewness", "kurtosis",
    "hjorth_activity", "hjorth_mobility", "hjorth_complexity", "line_length",
    "zero_crossing_rate", "mean_abs_d2",
    "rel_delta", "rel_theta", "rel_alpha", "rel_beta", "rel_gamma", "log_power",
    "peak_freq", "spectral_centroid", "spectral_edge_95", "spectral_entropy", "log_theta_beta",
)
BANDS = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0),
         "beta": (13.0, 30.0), "gamma": (30.0, 45.0)}
_EPS = 1e-12


def _safe_div(a, b):
  return jnp.where(jnp.abs(b) > _EPS, a / jnp.where(jnp.abs(b) > _EPS, b, 1.0), 0.0)


def _quantile_sorted(s, n, q):
  """q-quantile (linear interpolation) of the first n entries of sorted s."""
  pos = q * (n - 1).astype(jnp.float32)
  lo = jnp.floor(pos).astype(jnp.int32)
  hi = jnp.minimum(lo + 1, n - 1)
  frac = pos - lo
  return s[lo] * (1 - frac) + s[hi] * frac


def _masked_var(v, m, count):
  mu = jnp.sum(v * m) / count
  return jnp.sum(((v - mu) * m) ** 2) / count


def channel_features(x: jax.Array, length: jax.Array, sampling_rate: float) -> jax.Array:
  """The 25 features of one channel `x` (T,) whose first `length` samples are valid."""
  t_max = x.shape[0]
  n = jnp.maximum(length, 1)
  nf = n.astype(jnp.float32)
  m = (jnp.arange(t_max) < n).astype(jnp.float32)
  mean = jnp.sum(x * m) / nf
  xc = (x - mean) * m
  var = jnp.sum(xc ** 2) / nf
  std = jnp.sqrt(var)
  s = jnp.sort(jnp.where(m > 0, x, jnp.inf))
  x_min, x_max = s[0], s[n - 1]
  median = _quantile_sorted(s, n, 0.5)
  iqr = _quantile_sorted(s, n, 0.75) - _quantile_sorted(s, n, 0.25)
  skew = _safe_div(jnp.sum(xc ** 3) / nf, std ** 3)
  kurt = _safe_div(jnp.sum(xc ** 4) / nf, var ** 2) - 3.0

  m1 = (jnp.arange(t_max - 1) < n - 1).astype(jnp.float32)
  m2 = (jnp.arange(t_max - 2) < n - 2).astype(jnp.float32)
  n1, n2 = jnp.maximum(m1.sum(), 1.0), jnp.maximum(m2.sum(), 1.0)
  d1 = jnp.diff(x)
  d2 = jnp.diff(x, n=2)
  var1, var2 = _masked_var(d1, m1, n1), _masked_var(d2, m2, n2)
  mobility = jnp.sqrt(_safe_div(var1, var))
  complexity = _safe_div(jnp.sqrt(_safe_div(var2, var1)), mobility)
  line_length = jnp.sum(jnp.abs(d1) * m1) / n1
  crossings = jnp.sum((xc[1:] * xc[:-1] < 0) * m1) / n1
  mean_abs_d2 = jnp.sum(jnp.abs(d2) * m2) / n2

  power = jnp.abs(jnp.fft.rfft(xc)) ** 2 / nf
  freqs = jnp.fft.rfftfreq(t_max, d=1.0 / sampling_rate)
  top = min(45.0, sampling_rate / 2.0)
  in_range = (freqs >= 0.5) & (freqs <= top)
  p_range = jnp.where(in_range, power, 0.0)
  total = jnp.sum(p_range)
  band = {k: jnp.sum(jnp.where((freqs >= lo) & (freqs < hi if k != "gamma" else freqs <= hi)
                               & in_range, power, 0.0)) for k, (lo, hi) in BANDS.items()}
  rel = [_safe_div(band[k], total) for k in BANDS]
  log_power = jnp.log(total / nf + _EPS)
  peak = freqs[jnp.argmax(p_range)]
  centroid = _safe_div(jnp.sum(freqs * p_range), total)
  cum = jnp.cumsum(p_range)
  edge = freqs[jnp.argmax(cum >= 0.95 * total)]
  p = p_range / jnp.maximum(total, _EPS)
  entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
  entropy = entropy / jnp.log(jnp.maximum(jnp.sum(in_range), 2).astype(jnp.float32))
  theta_beta = jnp.log((band["theta"] + _EPS) / (band["beta"] + _EPS))
  return jnp.stack([mean, std, x_min, x_max, median, iqr, skew, kurt,
                    var, mobility, complexity, line_length, crossings, mean_abs_d2,
                    *rel, log_power, peak, centroid, edge, entropy, theta_beta])


def _trial_features(x, length, sampling_rate):
  # x: (T, C) -> (C, 25)
  return jax.vmap(channel_features, in_axes=(1, None, None))(x, length, sampling_rate)


_batched = jax.jit(jax.vmap(_trial_features, in_axes=(0, 0, None)), static_argnums=2)


def trial_features(ds: Dataset, sampling_rate: float | None = None,
                   chunk: int = 256) -> Dataset:
  """Feature dataset (n, C * 25) from a sequence dataset; names are `channel:feature`."""
  if not ds.is_sequence:
    raise DataError(f"dataset {ds.info.name!r} already holds features; trial features "
                    "need sequences")
  fs = sampling_rate or ds.info.sampling_rate
  if not fs or fs <= 0:
    raise DataError(f"dataset {ds.info.name!r} has no sampling rate; pass --sampling_rate "
                    "(Hz) to compute trial features")
  if ds.x.shape[1] < 3:
    raise DataError(f"dataset {ds.info.name!r}: trials of {ds.x.shape[1]} samples; "
                    "trial features need at least 3")
  lengths = ds.trial_lengths()
  out = []
  for start in range(0, ds.num_examples, chunk):
    out.append(np.asarray(_batched(jnp.asarray(ds.x[start:start + chunk]),
                                   jnp.asarray(lengths[start:start + chunk]), float(fs))))
  feats = np.concatenate(out).reshape(ds.num_examples, -1)
  channels = ds.info.channel_names or tuple(f"ch{i}" for i in range(ds.x.shape[2]))
  names = tuple(f"{c}:{f}" for c in channels for f in FEATURE_NAMES)
  if not np.all(np.isfinite(feats)):
    bad = np.argwhere(~np.isfinite(feats))[0]
    raise DataError(f"dataset {ds.info.name!r}: feature {names[bad[1]]} of trial {bad[0]} "
                    "is not finite")
  info = dataclasses.replace(ds.info, feature_names=names, sampling_rate=fs,
                             description=(ds.info.description + " | 25 trial features "
                                          "per channel").strip(" |"))
  return ds.replace(x=feats.astype(np.float32), lengths=None, info=info)


# ----------------------------------------------------------- band power (alcoholism study)
STUDY_BANDS = {"theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0)}


def band_power(x: jax.Array, sampling_rate: float, bands=None) -> jax.Array:
  """Power of each channel in each band: x (..., T, C) -> (..., C, B).

  The periodogram of the mean-removed signal, one-sided and scaled so the bins sum to the
  signal's variance (Parseval); a band's power is the sum of its bins f in [lo, hi). A
  sinusoid of amplitude A inside a band gives that band A^2 / 2."""
  bands = STUDY_BANDS if bands is None else bands
  steps = x.shape[-2]
  xc = x - x.mean(axis=-2, keepdims=True)
  spec = jnp.abs(jnp.fft.rfft(xc, axis=-2)) ** 2 / steps ** 2
  weight = jnp.full(spec.shape[-2], 2.0)
  weight = weight.at[0].set(1.0)
  if steps % 2 == 0:
    weight = weight.at[-1].set(1.0)       # the Nyquist bin is not mirrored
  spec = spec * weight[:, None]
  freqs = jnp.fft.rfftfreq(steps, d=1.0 / sampling_rate)
  sel = jnp.stack([(freqs >= lo) & (freqs < hi) for lo, hi in bands.values()], axis=1)
  return jnp.einsum("...fc,fb->...cb", spec, sel.astype(spec.dtype))


def band_power_features(x: jax.Array, sampling_rate: float, channel_names, bands=None):
  """(n, T, C) trials -> ((n, C * B) band powers, electrode-major, and their names
  "<electrode>_<band>"): the alcoholism study's 64 x 3 = 192 features."""
  bands = STUDY_BANDS if bands is None else bands
  p = band_power(jnp.asarray(x), sampling_rate, bands)
  names = tuple(f"{c}_{b}" for c in channel_names for b in bands)
  return p.reshape(p.shape[0], -1), names
