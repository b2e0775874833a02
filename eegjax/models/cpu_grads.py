"""Convolutions and average pools whose gradients XLA's CPU backend computes quickly, for
the EEG conv networks (`eegjax.models.eegconv`) on the CPU (`conv`, and `avg_pool` below).

XLA's CPU backend computes the forward convolutions of these networks well, but their
gradients -- the kernel gradient of a long temporal kernel (10-128 taps) or of a spatial
kernel spanning every electrode, and the input gradient of the latter -- as convolutions
with the activations as the "kernel", 3-10x slower than the forward pass (ShallowConvNet on
scp1's trials: forward 36 ms, forward and backward 360-390 ms a batch of 32; see
benchmarks/cpu_grads.py). `conv` keeps the forward pass exactly (the same
`lax.conv_general_dilated`, so inference, the pruning engine's traces and every pruned
network compute what they did) and gives it a custom VJP: for each kernel tap (i, j),

    dK[i, j] = sum over (batch, h, w) of  x_padded[:, h + i, w + j, :]^T  g[:, h, w, :]
    dx_padded[:, h + i, w + j, :] += g[:, h, w, :] K[i, j]^T

grouped by `feature_group_count` (EEGNet's depthwise and separable convolutions), as
`dot_general`s XLA's CPU backend runs as plain matrix products. Mathematically the gradient
of the convolution; in float32 it differs from XLA's by rounding (another order of the same
sums), so training from the same seed follows a nearby, not bit-identical, path.

Only what the networks use takes this path: stride 1, no dilation, one batch group, NHWC
inputs and HWIO kernels, on the CPU (other backends keep their own convolution gradients,
e.g. cuDNN's); anything else calls `lax.conv_general_dilated` unchanged.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
         precision=None, preferred_element_type=None):
  """`lax.conv_general_dilated`'s signature (flax's `nn.Conv(conv_general_dilated=...)`);
  the tap-wise gradient where it applies (see the module's docstring)."""
  plain = functools.partial(
      lax.conv_general_dilated, lhs, rhs, window_strides, padding,
      lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
      batch_group_count=batch_group_count, precision=precision,
      preferred_element_type=preferred_element_type)
  ones = (None, (1, 1), [1, 1])
  if (jax.default_backend() != "cpu" or lhs.ndim != 4
      or tuple(window_strides) != (1, 1) or lhs_dilation not in ones
      or rhs_dilation not in ones or batch_group_count != 1
      or preferred_element_type is not None
      or dimension_numbers is None
      or lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
      != lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DIMS)):
    return plain()
  if isinstance(padding, str):
    pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
  else:
    pads = padding
  pads = tuple((int(lo), int(hi)) for lo, hi in pads)
  return _conv(lhs, rhs, pads, int(feature_group_count), precision)


def _forward(x, k, pads, groups, precision):
  return lax.conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=_DIMS,
                                  feature_group_count=groups, precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, k, pads, groups, precision):
  return _forward(x, k, pads, groups, precision)


def _conv_fwd(x, k, pads, groups, precision):
  return _forward(x, k, pads, groups, precision), (x, k)


def _conv_bwd(pads, groups, precision, res, g):
  x, k = res
  kh, kw, m, co = k.shape                   # m input channels per group
  n = co // groups                          # output channels per group
  b, ho, wo, _ = g.shape
  xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
  xg = xp.reshape(xp.shape[:3] + (groups, m))
  gg = g.reshape(b, ho, wo, groups, n)
  kg = k.reshape(kh, kw, m, groups, n)
  taps = [(i, j) for i in range(kh) for j in range(kw)]
  # the input patch each output position saw, tap by tap: (b, ho, wo, taps, groups, m)
  patches = jnp.stack([xg[:, i:i + ho, j:j + wo] for i, j in taps], axis=3)
  dk = jnp.einsum("bhwtgm,bhwgn->tmgn", patches, gg, precision=precision)
  dk = dk.reshape(k.shape)
  dxp = jnp.zeros(xg.shape, g.dtype)
  for i, j in taps:
    back = jnp.einsum("bhwgn,mgn->bhwgm", gg, kg[i, j], precision=precision)
    dxp = dxp.at[:, i:i + ho, j:j + wo].add(back)
  h, w = x.shape[1:3]
  dx = dxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + w].reshape(x.shape)
  return dx.astype(x.dtype), dk.astype(k.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


def avg_pool(x, window_shape, strides):
  """flax's `nn.avg_pool(x, window_shape, strides)` ("VALID", NHWC) with the same forward
  pass and, on the CPU, a gradient computed as one matrix product with the pooling matrix
  per pooled axis: XLA's transposed window sum, fused with the elementwise gradient before
  it (ShallowConvNet's square), recomputes that gradient for every window it falls in
  (148 ms against 5 ms forward for square -> pool 75/15 -> log on a batch of 32)."""
  if jax.default_backend() != "cpu" or x.ndim != 4:
    return nn.avg_pool(x, window_shape, strides=strides)
  return _avg_pool(x, tuple(int(w) for w in window_shape), tuple(int(s) for s in strides))


def _pool_matrix(length: int, window: int, stride: int) -> np.ndarray:
  """(pooled, length) float32: row p averages positions [p * stride, p * stride + window)."""
  pooled = (length - window) // stride + 1
  a = np.zeros((pooled, length), np.float32)
  for p in range(pooled):
    a[p, p * stride:p * stride + window] = 1.0 / window
  return a


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _avg_pool(x, window_shape, strides):
  return nn.avg_pool(x, window_shape, strides=strides)


def _avg_pool_fwd(x, window_shape, strides):
  return nn.avg_pool(x, window_shape, strides=strides), x.shape


def _avg_pool_bwd(window_shape, strides, shape, g):
  for axis, (w, s) in enumerate(zip(window_shape, strides), start=1):
    if w == 1 and s == 1:
      continue
    a = jnp.asarray(_pool_matrix(shape[axis], w, s), g.dtype)
    g = jnp.moveaxis(jnp.tensordot(g, a, axes=[[axis], [0]]), -1, axis)
  return (g,)


_avg_pool.defvjp(_avg_pool_fwd, _avg_pool_bwd)
