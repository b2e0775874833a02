"""The alcoholism study's autoencoder: 64 electrodes x 3 bands compressed to 16 x 3.

Inputs are the 192 band-power features, electrode-major (e0_theta, e0_alpha, e0_beta,
e1_theta, ...), as `eegjax.data.features.band_power_features` orders them.

- `per_band=True` (the study's form): each band has its own encoder 64 -> 16 and decoder
  16 -> 64, so a code keeps the band structure: codes (B, 16, 3).
- `per_band=False`: one encoder over the whole vector, 192 -> 48, and back.

The encoder's activation is `activation` (sigmoid by default); the decoder ends in a sigmoid,
as the inputs are min-max scaled to [0, 1] on each fold's training rows. It trains with the
one training program (`TrainConfig(objective="reconstruct")`); `encode` gives the codes a
classifier then learns from.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from eegjax.models.mlp import ACTIVATIONS, MLP


class BandAutoencoder(nn.Module):
  num_electrodes: int = 64
  num_bands: int = 3
  code_size: int = 16               # per band (per_band) or code_size * num_bands in all
  per_band: bool = True
  activation: str = "sigmoid"

  def setup(self):
    e, b, k = self.num_electrodes, self.num_bands, self.code_size
    if self.per_band:
      self.encoders = [nn.Dense(k, name=f"encoder_{i}") for i in range(b)]
      self.decoders = [nn.Dense(e, name=f"decoder_{i}") for i in range(b)]
    else:
      self.encoder = nn.Dense(k * b, name="encoder")
      self.decoder = nn.Dense(e * b, name="decoder")

  def encode(self, x):
    """(B, E * bands) -> codes (B, code_size, bands) (per_band) or (B, code * bands)."""
    act = ACTIVATIONS[self.activation]
    if not self.per_band:
      return act(self.encoder(x))
    bands = x.reshape(x.shape[0], self.num_electrodes, self.num_bands)
    return jnp.stack([act(enc(bands[:, :, i])) for i, enc in enumerate(self.encoders)],
                     axis=-1)

  def decode(self, codes):
    if not self.per_band:
      return nn.sigmoid(self.decoder(codes))
    out = jnp.stack([dec(codes[:, :, i]) for i, dec in enumerate(self.decoders)], axis=-1)
    return nn.sigmoid(out).reshape(codes.shape[0], -1)

  def __call__(self, x):
    return self.decode(self.encode(x))


class CodeClassifier(nn.Module):
  """A dense classifier on an autoencoder's codes: `head` (an MLP, layers Dense_0..Dense_L)
  sees the flattened codes of a frozen `autoencoder` encoder.

  Called on the 192 band-power features it encodes them first; the encoder sits behind
  `stop_gradient`, so training changes the head alone (Adam's update of a zero gradient is
  exactly zero) and the encoder keeps the weights the autoencoder learned, which the study
  copies in before training (see eegjax.studies.alcohol). `classify_codes` is the deployed
  form: stored codes in, logits out. The codes are sigmoid outputs in [0, 1] and are used
  as they are (not re-scaled)."""
  autoencoder: BandAutoencoder
  hidden_sizes: Sequence[int]
  num_classes: int
  activation: str = "relu"

  def setup(self):
    self.head = MLP(self.hidden_sizes, self.num_classes, self.activation)

  def codes(self, x):
    """Flattened codes (B, code_size * bands) of band-power inputs, without gradient."""
    c = jax.lax.stop_gradient(self.autoencoder.encode(x))
    return c.reshape(c.shape[0], -1)

  def classify_codes(self, codes, return_activations: bool = False):
    return self.head(codes.reshape(codes.shape[0], -1), return_activations)

  def __call__(self, x, return_activations: bool = False):
    return self.head(self.codes(x), return_activations)
