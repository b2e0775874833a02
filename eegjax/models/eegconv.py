"""The convolutional networks EEG researchers train on raw trials (channels x time),
written from their papers in flax.linen; input (batch, channels, time), output logits.

  ShallowConvNet  Schirrmeister et al. 2017 (Hum. Brain Mapp. 38:5391), the shallow
                  ConvNet: temporal conv (40 x 25) -> spatial conv over all electrodes (40,
                  no bias) -> BatchNorm -> square -> mean pool (75, stride 15) -> log ->
                  dropout -> a dense layer as a conv over the pooled time (FBCSP's steps).
  Deep4           the same paper's deep ConvNet: temporal (25 x 10) and spatial (25) conv,
                  BatchNorm, ELU, max pool 3/3, then three blocks of dropout -> conv (50,
                  100, 200 x 10, no bias) -> BatchNorm -> ELU -> max pool 3/3, and the
                  dense layer as a conv over the remaining time.
  EEGNet          Lawhern et al. 2018 (J. Neural Eng. 15:056013), EEGNet-F1,D (default
                  8,2, F2 = F1 x D): temporal conv (F1 x kernel, "same", no bias) ->
                  BatchNorm -> depthwise spatial conv (D filters per temporal filter, no
                  bias; max-norm 1) -> BatchNorm -> ELU -> mean pool 4 -> dropout ->
                  separable conv (depthwise 16 then pointwise F2, no bias) -> BatchNorm ->
                  ELU -> mean pool 8 -> dropout -> dense (max-norm 0.25).

`lengths` is accepted for the training driver's sequence interface and not used: the
trials a convolutional network sees are equal-length (eegjax cuts them to the shortest).
`channels_last=True` takes eegjax's sequence layout (batch, time, channels) instead.

BatchNorm keeps running statistics in the "batch_stats" collection (train=True updates them,
`mutable=["batch_stats"]`; train=False uses them); dropout needs a "dropout" rng when
train=True. BatchNorm's momentum is 0.9 in flax's convention (PyTorch's 0.1; Keras's 0.99 in
EEGNet's own code). The papers' max-norm constraints are `MAX_NORMS` ({module name: the
largest L2 norm of one unit's incoming weights}), applied after each update by
`apply_max_norm`.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from eegjax.models import cpu_grads

# EEGNet's constraints (Lawhern et al. 2018, section 2.2): depthwise kernel 1, dense 0.25
MAX_NORMS = {"depthwise": 1.0, "classifier_dense": 0.25}

# every convolution of these networks: flax's, with gradients XLA's CPU backend computes
# several times faster (the forward pass is unchanged; eegjax.models.cpu_grads)
Conv = functools.partial(nn.Conv, conv_general_dilated=cpu_grads.conv)


def _bn(train: bool, name: str):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def _as_image(x: jax.Array, channels_last: bool) -> jax.Array:
  """(batch, channels, time) -- or (batch, time, channels) when `channels_last`, eegjax's
  sequence layout -- -> (batch, channels, time, 1): electrodes x time as the image's
  height x width, one input feature."""
  if x.ndim != 3:
    layout = "time, channels" if channels_last else "channels, time"
    raise ValueError(f"expected trials as (batch, {layout}); got shape {x.shape}")
  if channels_last:
    x = jnp.swapaxes(x, 1, 2)
  return x[..., None]


class ShallowConvNet(nn.Module):
  """Schirrmeister et al. 2017's shallow ConvNet (see the module's docstring)."""
  num_classes: int
  n_filters_time: int = 40
  filter_time_length: int = 25
  n_filters_spat: int = 40
  pool_time_length: int = 75
  pool_time_stride: int = 15
  dropout: float = 0.5
  channels_last: bool = False   # input (batch, time, channels)
  convolutional = True          # the trainer's layout rule (eegjax.train.fit)

  @nn.compact
  def __call__(self, x, lengths=None, train: bool = False):
    x = _as_image(x, self.channels_last)
    c = x.shape[1]
    x = Conv(self.n_filters_time, (1, self.filter_time_length), padding="VALID",
             name="conv_time")(x)
    x = Conv(self.n_filters_spat, (c, 1), padding="VALID", use_bias=False,
             name="conv_spat")(x)                           # (batch, 1, time, filters)
    x = _bn(train, "bn")(x)
    x = jnp.square(x)
    x = cpu_grads.avg_pool(x, (1, self.pool_time_length), strides=(1, self.pool_time_stride))
    x = jnp.log(jnp.maximum(x, 1e-6))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = Conv(self.num_classes, (1, x.shape[2]), padding="VALID", name="classifier")(x)
    return x.reshape(x.shape[0], self.num_classes)


class Deep4(nn.Module):
  """Schirrmeister et al. 2017's deep ConvNet (see the module's docstring)."""
  num_classes: int
  n_filters: Sequence[int] = (25, 50, 100, 200)
  filter_length: int = 10
  pool_length: int = 3
  dropout: float = 0.5
  channels_last: bool = False   # input (batch, time, channels)
  convolutional = True          # the trainer's layout rule (eegjax.train.fit)

  @nn.compact
  def __call__(self, x, lengths=None, train: bool = False):
    x = _as_image(x, self.channels_last)
    c = x.shape[1]
    x = Conv(self.n_filters[0], (1, self.filter_length), padding="VALID",
             name="conv_time")(x)
    x = Conv(self.n_filters[0], (c, 1), padding="VALID", use_bias=False,
             name="conv_spat")(x)
    x = nn.elu(_bn(train, "bn_0")(x))
    x = nn.max_pool(x, (1, self.pool_length), strides=(1, self.pool_length))
    for i, f in enumerate(self.n_filters[1:], 1):
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = Conv(f, (1, self.filter_length), padding="VALID", use_bias=False,
               name=f"conv_{i}")(x)
      x = nn.elu(_bn(train, f"bn_{i}")(x))
      x = nn.max_pool(x, (1, self.pool_length), strides=(1, self.pool_length))
    if x.shape[2] < 1:
      raise ValueError("Deep4: the trials are too short for four conv-pool blocks")
    x = Conv(self.num_classes, (1, x.shape[2]), padding="VALID", name="classifier")(x)
    return x.reshape(x.shape[0], self.num_classes)


class EEGNet(nn.Module):
  """Lawhern et al. 2018's EEGNet-F1,D (see the module's docstring). `kernel_length`: the
  temporal kernel, half the sampling rate in the paper (64 at 128 Hz)."""
  num_classes: int
  f1: int = 8
  d: int = 2
  f2: int = 0                  # 0: F1 x D, as in the paper
  kernel_length: int = 64
  separable_length: int = 16
  pool_1: int = 4
  pool_2: int = 8
  dropout: float = 0.5
  channels_last: bool = False   # input (batch, time, channels)
  convolutional = True          # the trainer's layout rule (eegjax.train.fit)
  max_norms = MAX_NORMS         # the paper's constraints, applied after each update

  @nn.compact
  def __call__(self, x, lengths=None, train: bool = False):
    x = _as_image(x, self.channels_last)
    c = x.shape[1]
    f2 = self.f2 or self.f1 * self.d
    x = Conv(self.f1, (1, self.kernel_length), padding="SAME", use_bias=False,
             name="conv_time")(x)
    x = _bn(train, "bn_0")(x)
    # depthwise: D spatial filters for each temporal filter (groups = F1)
    x = Conv(self.f1 * self.d, (c, 1), padding="VALID", feature_group_count=self.f1,
             use_bias=False, name="depthwise")(x)
    x = nn.elu(_bn(train, "bn_1")(x))
    x = cpu_grads.avg_pool(x, (1, self.pool_1), strides=(1, self.pool_1))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    # separable: a temporal filter per channel, then a 1 x 1 mix into F2
    x = Conv(self.f1 * self.d, (1, self.separable_length), padding="SAME",
             feature_group_count=self.f1 * self.d, use_bias=False,
             name="separable_depthwise")(x)
    x = Conv(f2, (1, 1), use_bias=False, name="separable_pointwise")(x)
    x = nn.elu(_bn(train, "bn_2")(x))
    x = cpu_grads.avg_pool(x, (1, self.pool_2), strides=(1, self.pool_2))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = x.reshape(x.shape[0], -1)
    return nn.Dense(self.num_classes, name="classifier_dense")(x)


NETWORKS = ("shallow", "eegnet", "deep4")
# the sampling rates the papers' kernel and pool lengths are given at
PAPER_RATE = {"shallow": 250.0, "deep4": 250.0, "eegnet": 128.0}


def _deep4_fits(time: int, filter_length: int, pool: int) -> bool:
  n = (time - filter_length + 1) // pool
  for _ in range(3):
    n = (n - filter_length + 1) // pool
  return n >= 1


def sized_for(network: str, num_classes: int, time: int, sampling_rate: float,
              **overrides) -> nn.Module:
  """`network` (shallow | eegnet | deep4) for trials of `time` samples at `sampling_rate`
  Hz in eegjax's (batch, time, channels) layout: the papers' kernel and pool lengths are
  durations (Schirrmeister et al. at 250 Hz, Lawhern et al. at 128 Hz), so they are scaled
  to the data's rate; a pool longer than the trials allow is shortened to fit, and trials
  too short for the network are refused. `overrides` replace any argument."""
  from eegjax.errors import ConfigError
  if network not in NETWORKS:
    raise ConfigError(f"--model={network!r}: expected one of {list(NETWORKS)}")
  r = (sampling_rate or PAPER_RATE[network]) / PAPER_RATE[network]
  if network == "shallow":
    k = max(2, round(25 * r))
    pool = max(2, min(round(75 * r), time - k + 1))
    kw = dict(filter_time_length=k, pool_time_length=pool,
              pool_time_stride=max(1, min(round(15 * r), pool)))
    if time - k + 1 < 2:
      raise ConfigError(f"--model=shallow: trials of {time} samples are too short for its "
                        f"{k}-sample temporal filters")
  elif network == "deep4":
    kw = dict(filter_length=max(2, round(10 * r)), pool_length=3)
    while not _deep4_fits(time, kw["filter_length"], kw["pool_length"]):
      if kw["pool_length"] > 2:
        kw["pool_length"] -= 1
      elif kw["filter_length"] > 2:
        kw["filter_length"] -= 1
      else:
        raise ConfigError(f"--model=deep4: trials of {time} samples are too short for four "
                          "conv-pool blocks (at least 46 samples with 2-sample filters and "
                          "pools); expected longer trials or --model=shallow or eegnet")
  else:
    pool_2 = max(1, min(8, time // 4))
    if time // 4 < 1:
      raise ConfigError(f"--model=eegnet: trials of {time} samples are too short "
                        "(at least 4)")
    kw = dict(kernel_length=max(2, round(64 * r)), separable_length=max(2, round(16 * r)),
              pool_2=pool_2)
  cls = {"shallow": ShallowConvNet, "deep4": Deep4, "eegnet": EEGNet}[network]
  return cls(num_classes=num_classes, channels_last=True, **{**kw, **overrides})


def apply_max_norm(params, max_norms: dict = MAX_NORMS):
  """Each unit's incoming weights (a kernel's last axis indexes the units) scaled down to
  at most the module's max norm, for the modules named in `max_norms`; other params are
  returned as they are."""
  def walk(tree, name=""):
    if not isinstance(tree, dict):
      return tree
    out = {}
    for k, v in tree.items():
      if k == "kernel" and name in max_norms:
        norms = jnp.sqrt(jnp.sum(jnp.square(v), axis=tuple(range(v.ndim - 1)),
                                 keepdims=True))
        out[k] = v * jnp.minimum(1.0, max_norms[name] / jnp.maximum(norms, 1e-12))
      else:
        out[k] = walk(v, k)
    return out
  return walk(params)
