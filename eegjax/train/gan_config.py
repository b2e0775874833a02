"""The GAN training's settings (`GanConfig`, the train_gan flags of eegjax.train.gan_fit)
and the state every (fold, seed) model carries from epoch to epoch (`GanState`)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax

from eegjax.errors import ConfigError
from eegjax.settings import setting


@dataclasses.dataclass(frozen=True)
class GanConfig:
  epochs: int = setting(30, "GAN training epochs", flag="gan_epochs")
  g_learning_rate: float = setting(2e-4, "generator Adam learning rate")
  d_learning_rate: float = setting(2e-4, "discriminator Adam learning rate")
  # Adam's first-moment decay (0.5: the DCGAN habit)
  beta1: float = setting(0.5, "Adam's beta1 for both networks")
  semi_supervised: bool = setting(False, "K+1-output discriminator instead of a class head "
                                  "and a real/fake head")
  # AC-GAN's generator term "be classified as the conditioned class", weighted: at 1 the
  # generator is pushed towards the most class-typical image (low diversity within a
  # class, Shu 2017); lower keeps the class conditioning and lets the samples vary
  class_weight: float = setting(1.0, "weight of the generator's class term (AC-GAN: 1)")
  # the generator used is a moving average of the trained one's weights (gan_fit)
  g_average: float = setting(0.999, "decay of the moving average of the generator's "
                             "weights that serves as the generator (0: the trained "
                             "weights themselves)")
  # smaller batches than the classifiers': twice the steps per epoch at about the same cost
  # per epoch on a CPU, and the game converged in fewer epochs (synthetic SMNI twin)
  batch_size: int = setting(16, "GAN batch size (the dense and quality classifiers use "
                            "--batch_size)", flag="gan_batch_size")
  eval_batch_size: int = 256

  def __post_init__(self):
    for name in ("epochs", "batch_size", "eval_batch_size"):
      if getattr(self, name) < 1:
        flag = {"epochs": "gan_epochs", "batch_size": "gan_batch_size"}.get(name, name)
        raise ConfigError(f"--{flag}={getattr(self, name)}: expected a positive integer")
    for name in ("g_learning_rate", "d_learning_rate"):
      if not getattr(self, name) > 0:
        raise ConfigError(f"--{name}={getattr(self, name)}: expected a positive number")
    for name in ("g_average", "beta1"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise ConfigError(f"--{name}={getattr(self, name)}: expected a value in [0, 1)")
    if not self.class_weight >= 0:
      raise ConfigError(f"--class_weight={self.class_weight}: expected a weight >= 0")


class GanState(NamedTuple):
  g: Any                   # the generator being trained
  d: Any
  g_opt: Any
  d_opt: Any
  best_g: Any              # g_avg of the best epoch
  best_d: Any
  best_val: jax.Array      # best validation class loss on real images (inf before any)
  best_epoch: jax.Array    # 0-based; -1 before any
  g_avg: Any               # the running average of g's weights: the generator used
  g_steps: jax.Array       # generator steps taken (the average's warm-up)


def step_carry(state: GanState) -> tuple:
  """What a training step updates: (g, d, g_opt, d_opt, g_avg, g_steps)."""
  return (state.g, state.d, state.g_opt, state.d_opt, state.g_avg, state.g_steps)
