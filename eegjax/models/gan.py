"""The alcoholism study's GAN on 32x32x3 EEG images (theta/alpha/beta as the 3 channels):
a deconvolutional generator and a CNN discriminator that also classifies (AC-GAN).

- `DeconvGenerator`: noise (noise_dim,) and a class -> Dense -> 4x4 maps -> three stride-2
  transposed convolutions (8, 16, 32) -> a 3x3 convolution -> tanh image in [-1, 1].
- `Discriminator`: stride-2 3x3 convolutions Conv_0.. (32 -> 16 -> 8 -> 4), leaky ReLU,
  global average pooling, then two heads: `cls_head` (class logits, alcoholic / control)
  and `adv_head` (one real/fake logit). With `semi_supervised=True` one `head` gives K + 1
  logits instead, the last meaning "fake" (Salimans et al. 2016).

Convolution channels are the units the pruning module works on: channel j of Conv_i is
slice j of Conv_i's kernel (last axis) and bias, and acts through input-channel slice j of
Conv_{i+1}'s kernel (axis 2) or, for the last convolution, row j of the heads' kernels
(global average pooling keeps one value per channel). No normalisation layers sit in
between, so merging two channels with identical feature maps (paper rule: outgoing slices
added) leaves the outputs unchanged; `eegjax.pruning.discover_groups` finds these groups.

The U-Net generator is in eegjax.models.unet. Every generator has `noise_shape` and is
called as `generator(noise, labels)`.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

IMAGE_SHAPE = (32, 32, 3)


class DeconvGenerator(nn.Module):
  num_classes: int = 2
  noise_dim: int = 64
  features: Sequence[int] = (128, 64, 32)     # channels at 8x8, 16x16, 32x32
  channels: int = 3
  norm: bool = False        # BatchStatNorm after the projection and every upsampling

  @property
  def noise_shape(self) -> tuple[int, ...]:
    return (self.noise_dim,)

  @nn.compact
  def __call__(self, noise, labels):
    h = jnp.concatenate([noise, jax.nn.one_hot(labels, self.num_classes)], axis=-1)
    norm = (lambda h, name: BatchStatNorm(name=name)(h)) if self.norm else (  # noqa
        lambda h, name: h)
    h = nn.Dense(4 * 4 * self.features[0], name="project")(h)
    h = nn.relu(norm(h.reshape(h.shape[0], 4, 4, self.features[0]), "norm_project"))
    for i, f in enumerate(self.features):
      h = nn.relu(norm(nn.ConvTranspose(f, (4, 4), strides=(2, 2), padding="SAME",
                                        name=f"Deconv_{i}")(h), f"norm_{i}"))
    return jnp.tanh(nn.Conv(self.channels, (3, 3), name="to_image")(h))


POOLS = ("mean", "flatten")


class BatchStatNorm(nn.Module):
  """Normalisation by the current batch's statistics over every axis but the channels,
  then a learned scale and shift (batch normalisation as DCGAN's generator uses it in
  training; no running averages, so no state besides the parameters: a batch of samples
  is drawn the way training drew them)."""
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x):
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axes, keepdims=True)
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class Discriminator(nn.Module):
  num_classes: int = 2
  features: Sequence[int] = (32, 64, 128)
  semi_supervised: bool = False
  negative_slope: float = 0.2
  # "mean": global average pooling before the heads (blind to where on the scalp a
  # pattern is); "flatten": the last maps flattened (DCGAN's form: the heads see layout)
  pool: str = "mean"
  # minibatch features (Salimans et al. 2016; ProGAN's minibatch standard deviation, here
  # of the input images, `minibatch_features`), fed to the real/fake output only, so a
  # batch of look-alike fakes can be told from a real one
  minibatch: bool = False
  # a hidden layer between the pooled or flattened maps and the heads (0: none). Without
  # one the heads are linear in features of image patches, so they cannot compare a
  # pattern with the image's own mean (e.g. its contrast); the hidden layer can
  hidden: int = 0

  @nn.compact
  def __call__(self, x, return_activations: bool = False):
    """Returns (class logits (B, K), real/fake logit (B,)), or K + 1 logits (B, K + 1)
    when semi_supervised; with return_activations also every conv layer's maps."""
    mb = minibatch_features(x) if self.minibatch else None
    acts = []
    for i, f in enumerate(self.features):
      x = nn.leaky_relu(nn.Conv(f, (3, 3), strides=(2, 2), name=f"Conv_{i}")(x),
                        self.negative_slope)
      acts.append(x)
    if self.pool not in POOLS:
      raise ValueError(f"pool {self.pool!r}: expected one of {POOLS}")
    h = x.mean(axis=(1, 2)) if self.pool == "mean" else x.reshape(x.shape[0], -1)
    if self.hidden:
      h = nn.leaky_relu(nn.Dense(self.hidden, name="hidden")(h), self.negative_slope)
    if self.semi_supervised:
      out = nn.Dense(self.num_classes + 1, name="head")(h)
      if mb is not None:
        out = out.at[:, -1].add(nn.Dense(1, name="minibatch_head")(mb)[:, 0])
    else:
      out = (nn.Dense(self.num_classes, name="cls_head")(h),
             nn.Dense(1, name="adv_head")(h)[:, 0])
      if mb is not None:
        out = (out[0], out[1] + nn.Dense(1, name="minibatch_head")(mb)[:, 0])
    return (out, acts) if return_activations else out


def minibatch_features(x):
  """(B, 2 * bands): per band, the standard deviation over the batch of each pixel,
  averaged over the pixels, and the standard deviation over the batch of the images'
  means (how much a whole image's level varies); the same row for every image."""
  pixel = jnp.sqrt(x.var(axis=0) + 1e-8).mean(axis=(0, 1))
  level = jnp.sqrt(x.mean(axis=(1, 2)).var(axis=0) + 1e-8)
  s = jnp.concatenate([pixel, level])
  return jnp.broadcast_to(s, (x.shape[0], s.shape[0]))


def split_outputs(out, semi_supervised: bool):
  """(class logits over the K real classes, real/fake logit) from either discriminator.

  For the K + 1 form, P(real) = 1 - softmax(...)[K], so the real/fake logit is
  logsumexp(real logits) - fake logit."""
  if not semi_supervised:
    return out
  cls, fake = out[:, :-1], out[:, -1]
  return cls, jax.nn.logsumexp(cls, axis=-1) - fake


def discriminator_features(params) -> tuple[int, ...]:
  """The conv widths of a (possibly pruned) discriminator, read from its params."""
  tree = params.get("params", params)
  convs = sorted((k for k in tree if k.startswith("Conv_")), key=lambda k: int(k[5:]))
  return tuple(int(tree[k]["kernel"].shape[-1]) for k in convs)
