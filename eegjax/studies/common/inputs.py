"""A classifier's inputs from the loaded data: channel choice and smoothing, then the
model's input form (`prepare_inputs`): the MLP's trial features, flattened raw samples or
band powers; the RNN's sequences; a conv network's equal-length raw trials."""

from __future__ import annotations

import dataclasses

import numpy as np

from eegjax.data import DataError, Dataset
from eegjax.data.features import band_power_features, trial_features
from eegjax.data.preprocess import median_filter, select_channels


def prepare_inputs(cfg, ds: Dataset) -> tuple[Dataset, str]:
  """Channel choice, smoothing and the model's input form. Returns (dataset, description)."""
  ds = select_channels(ds, list(cfg.channels))
  if cfg.median_filter != 1:
    ds = median_filter(ds, cfg.median_filter)
  if cfg.is_cnn:
    return conv_inputs(cfg, ds)
  if cfg.model == "rnn":
    if not ds.is_sequence:
      raise DataError(f"the RNN needs sequences; dataset {ds.info.name!r} holds "
                      f"{ds.x.shape[1]} features per example (use train_mlp or prune_mlp)")
    return ds, f"raw sequences, {ds.x.shape[2]} channel(s), up to {ds.x.shape[1]} steps"
  if not ds.is_sequence:
    return ds, f"{ds.x.shape[1]} features as given"
  if cfg.inputs == "raw":
    if ds.lengths is not None:
      raise DataError("--inputs=raw needs equal-length sequences; use --inputs=features")
    flat = ds.replace(x=ds.x.reshape(ds.num_examples, -1), lengths=None,
                      info=dataclasses.replace(ds.info, channel_names=()))
    return flat, f"raw samples flattened ({flat.x.shape[1]} inputs)"
  if cfg.inputs == "band_power":
    return band_power_inputs(ds)
  feats = trial_features(ds)
  return feats, (f"trial features: 25 per channel x {ds.x.shape[2]} channel(s) = "
                 f"{feats.x.shape[1]}")


def conv_inputs(cfg, ds: Dataset) -> tuple[Dataset, str]:
  """A conv network's trials: raw sequences of equal length (unequal ones are cut to the
  shortest trial, which the description says)."""
  if not ds.is_sequence:
    raise DataError(f"--model={cfg.model} needs raw trials (sequences); dataset "
                    f"{ds.info.name!r} holds {ds.x.shape[1]} features per example (use "
                    "train_mlp for features)")
  lengths = ds.trial_lengths()
  cut = ""
  if (lengths != ds.x.shape[1]).any():
    t = int(lengths.min())
    ds = ds.replace(x=np.ascontiguousarray(ds.x[:, :t]), lengths=None)
    cut = f", cut to the shortest trial's {t} samples"
  rate = f" at {ds.info.sampling_rate:g} Hz" if ds.info.sampling_rate else ""
  return ds, (f"raw trials, {ds.x.shape[2]} channel(s) x {ds.x.shape[1]} samples{rate}"
              f"{cut}")


def band_power_inputs(ds: Dataset) -> tuple[Dataset, str]:
  """log10 band power in theta, alpha and beta per channel (the alcoholism study's 64 x 3
  = 192 features for SMNI data), electrode-major."""
  if ds.lengths is not None and (ds.lengths != ds.x.shape[1]).any():
    raise DataError("--inputs=band_power needs equal-length trials (as SMNI's 1-s trials)")
  if not ds.info.sampling_rate:
    raise DataError(f"--inputs=band_power: dataset {ds.info.name!r} has no sampling rate; "
                    "pass --sampling_rate")
  power, names = band_power_features(ds.x, ds.info.sampling_rate, ds.info.channel_names or
                                     [f"ch{i}" for i in range(ds.x.shape[2])])
  x = np.log10(np.maximum(np.asarray(power), 1e-12))
  info = dataclasses.replace(ds.info, channel_names=(), feature_names=names)
  out = ds.replace(x=x.astype(np.float32), lengths=None, info=info)
  return out, (f"log10 band power (theta, alpha, beta) x {ds.x.shape[2]} channel(s) = "
               f"{x.shape[1]}")
