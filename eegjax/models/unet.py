"""A U-Net generator for the alcoholism study's 32x32x3 EEG images.

Input: a noise image (32, 32, noise_channels) and the class as constant maps (one per
class, one-hot), concatenated; and (noise_dim > 0) a noise vector that scales and shifts
every decoder convolution's channels (feature-wise linear modulation, FiLM: per layer a
dense map from the vector to (1 + gamma, beta) per channel, as StyleGAN's style inputs
do). The vector is the image's global source of variation: the noise image's pixels are
averaged away by the convolutions, and a U-Net given only them (pix2pix's known fault)
varied along about one direction on the synthetic SMNI twin; so did one given the vector
concatenated at its bottleneck, which the skip connections bypass. The two arrive as one
flat noise (size * size * noise_channels + noise_dim values).

Encoder: 3x3 convolutions at 32x32, then three stride-2 convolutions down to 4x4.
Decoder: three upsamplings back to 32x32, each concatenated with the encoder's maps of that
size (the skip connections) and convolved. Output: a 1x1 convolution to 3 channels, tanh.

`upsample`:
  resize     nearest-neighbour doubling, then a 3x3 convolution (no checkerboard
             artefacts by construction)
  transpose  a 4x4 transposed convolution with stride 2 (learned upsampling)
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from eegjax.models.gan import BatchStatNorm

UPSAMPLE = ("resize", "transpose")


class UNetGenerator(nn.Module):
  num_classes: int = 2
  features: Sequence[int] = (32, 64, 128, 128)   # at 32, 16, 8 and 4 pixels
  upsample: str = "resize"
  noise_channels: int = 1
  channels: int = 3
  size: int = 32
  norm: bool = False        # BatchStatNorm after every convolution but the first and last
  noise_dim: int = 0        # the noise vector's size (0: the noise image only)

  @property
  def noise_shape(self) -> tuple[int, ...]:
    return (self.size * self.size * self.noise_channels + self.noise_dim,)

  def _up(self, x, features: int, name: str):
    if self.upsample == "resize":
      b, h, w, c = x.shape
      x = jax.image.resize(x, (b, 2 * h, 2 * w, c), method="nearest")
      return nn.Conv(features, (3, 3), name=name)(x)
    if self.upsample == "transpose":
      return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", name=name)(x)
    raise ValueError(f"upsample {self.upsample!r}: expected one of {UPSAMPLE}")

  @nn.compact
  def __call__(self, noise, labels):
    b, n_img = noise.shape[0], self.size * self.size * self.noise_channels
    maps = jnp.broadcast_to(jax.nn.one_hot(labels, self.num_classes)[:, None, None, :],
                            (b, self.size, self.size, self.num_classes))
    image = noise[:, :n_img].reshape(b, self.size, self.size, self.noise_channels)
    x = jnp.concatenate([image, maps.astype(noise.dtype)], axis=-1)
    f = self.features
    norm = (lambda h, name: BatchStatNorm(name=name)(h)) if self.norm else (  # noqa
        lambda h, name: h)
    skips = [nn.relu(nn.Conv(f[0], (3, 3), name="enc_0")(x))]        # 32
    for i in range(1, len(f)):                                       # 16, 8, 4
      skips.append(nn.relu(norm(nn.Conv(f[i], (3, 3), strides=(2, 2), name=f"enc_{i}")(
          skips[-1]), f"norm_enc_{i}")))
    z = noise[:, n_img:]

    def film(h, name):      # the noise vector's per-channel scale and shift (none if 0)
      if not self.noise_dim:
        return h
      c = h.shape[-1]
      gb = nn.Dense(2 * c, name=name)(z)[:, None, None, :]
      return h * (1.0 + gb[..., :c]) + gb[..., c:]

    x = skips.pop()
    for i in reversed(range(len(f) - 1)):                            # 8, 16, 32
      x = nn.relu(film(norm(self._up(x, f[i], f"up_{i}"), f"norm_up_{i}"), f"film_up_{i}"))
      x = jnp.concatenate([x, skips.pop()], axis=-1)                 # skip connection
      x = nn.relu(film(norm(nn.Conv(f[i], (3, 3), name=f"dec_{i}")(x), f"norm_dec_{i}"),
                       f"film_dec_{i}"))
    return jnp.tanh(nn.Conv(self.channels, (1, 1), name="to_image")(x))
