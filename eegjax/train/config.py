"""What a training run is asked to do: its hyperparameters (`TrainConfig`) and its
objective (cross-entropy on labels, or reconstruction MSE for the autoencoder)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax

from eegjax.errors import ConfigError
from eegjax.evaluate.metrics import cross_entropy
from eegjax.settings import setting

OBJECTIVES = ("classify", "reconstruct")


def reconstruction_mse(outputs, x, weights=None):
  """Weighted mean over examples of the mean squared error over each example's values."""
  err = jnp.mean((outputs.reshape(outputs.shape[0], -1) - x.reshape(x.shape[0], -1)) ** 2,
                 axis=-1)
  if weights is None:
    return err.mean()
  weights = weights.astype(err.dtype)
  return jnp.sum(err * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def objective_loss(objective: str, outputs, x, y, w):
  """The training loss: cross-entropy of logits on labels, or reconstruction MSE."""
  if objective == "reconstruct":
    return reconstruction_mse(outputs, x, w)
  return cross_entropy(outputs, y, w)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  epochs: int = setting(100, "training epochs")
  batch_size: int = setting(32, "minibatch size")
  learning_rate: float = setting(0.01, "Adam learning rate")
  patience: int = setting(0, "early stopping after this many epochs without validation "
                          "improvement (0 = off)")
  epochs_per_call: int = setting(0, "epochs per compiled call, i.e. between progress lines "
                                 "(0 = a tenth of the run)")
  grad_clip: float = setting(0.0, "clip gradients to this global norm (0 = off)")
  eval_batch_size: int = 512
  objective: str = "classify"     # classify (cross-entropy on labels) | reconstruct (MSE
                                  # of the model's output against its scaled input)

  def __post_init__(self):
    for name in ("epochs", "batch_size", "eval_batch_size"):
      if getattr(self, name) < 1:
        raise ConfigError(f"--{name}={getattr(self, name)}: expected a positive integer")
    if not 0 < self.learning_rate < float("inf"):
      raise ConfigError(f"--learning_rate={self.learning_rate}: expected a positive, finite "
                        "number")
    for name, zero in (("patience", "off"), ("epochs_per_call", "a tenth of the run")):
      if getattr(self, name) < 0:
        raise ConfigError(f"--{name}={getattr(self, name)}: expected an integer >= 0 "
                          f"(0 = {zero})")
    if self.objective not in OBJECTIVES:
      raise ConfigError(f"objective {self.objective!r}: expected one of {list(OBJECTIVES)}")
    if self.grad_clip < 0:
      raise ConfigError(f"--grad_clip={self.grad_clip}: expected a norm >= 0 (0 = off)")

  def optimizer(self) -> optax.GradientTransformation:
    """Adam, after clipping the gradients' global norm when grad_clip > 0."""
    adam = optax.adam(self.learning_rate)
    return optax.chain(optax.clip_by_global_norm(self.grad_clip), adam) if self.grad_clip \
        else adam
