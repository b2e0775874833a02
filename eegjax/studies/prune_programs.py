"""The family-specific pieces of the pruning study, compiled once per layer width: which
model a width means, its unit group, the Gram matrix of its hidden activations over each
fold's training rows (MLP layer outputs, or RNN hidden states over every valid time step),
its forward pass for timing, and the angle analysis among living units. Everything is
vmapped over folds (outer) and seeds (inner)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegjax.models import MLP, ElmanRNN
from eegjax.pruning.distinctiveness import (angles_from_gram, gram_over_chunks, pair_mask,
                                            trajectory_gram)
from eegjax.pruning.distinctiveness import min_angle as min_angle_of
from eegjax.pruning.surgery import mlp_hidden_group, rnn_hidden_group
from eegjax.studies.classification import Prepared
from eegjax.train import Trainer
from eegjax.train.folds import scale_rows

_RANDOM_TAG = 2


def over_models(fn):
  """vmap fn(params, folds) over seeds (inner: params only) and folds (outer)."""
  return jax.vmap(jax.vmap(fn, in_axes=(0, None)), in_axes=(0, 0))


def sizes(cfg, width: int) -> tuple[int, ...]:
  sizes = list(cfg.classify.hidden_sizes)
  sizes[cfg.layer] = width
  return tuple(sizes)


def unit_group(cfg):
  if cfg.classify.model == "rnn":
    return rnn_hidden_group()
  return mlp_hidden_group(cfg.layer, cfg.classify.activation)


def build(family: str, sizes, num_classes: int, activation: str):
  if family == "rnn":
    return ElmanRNN(hidden_size=sizes[0], num_classes=num_classes)
  return MLP(tuple(sizes), num_classes, activation)


class Programs:
  """Jitted, vmapped programs for one layer width (recompiled as the width shrinks)."""

  def __init__(self, cfg, prep: Prepared, width: int):
    c = cfg.classify
    self.model = build(c.model, sizes(cfg, width), prep.ds.num_classes, c.activation)
    self.group = unit_group(cfg)
    data, layer, model = prep.data, cfg.layer, self.model
    centre = self.group.centre

    def layer_gram(params, folds):
      x, _, lengths = scale_rows(data, folds.train_idx, folds.lo, folds.scale)
      if c.model == "rnn":
        traj = lambda xb, lb: model.apply(params, xb, lengths=lb,  # noqa: E731
                                          return_trajectory=True)[1]
        return trajectory_gram(traj, x, lengths, folds.train_w, centre=centre)
      act = lambda xb: model.apply(params, xb, return_activations=True)[1][layer]  # noqa
      return gram_over_chunks(act, x, folds.train_w, centre=centre)

    def forward(params, folds):
      x, _, lengths = scale_rows(data, folds.test_idx, folds.lo, folds.scale)
      if c.model == "rnn":
        return model.apply(params, x, lengths=lengths)
      return model.apply(params, x)

    def analyse(g, alive):
      """Angles, min angle and pairs within the thresholds among living units."""
      ang = angles_from_gram(g)
      pair = pair_mask(alive)
      within = pair & ((ang < cfg.similar_deg) | (ang > cfg.complementary_deg))
      return ang, min_angle_of(ang, alive), within.sum() // 2

    gram, fwd = jax.jit(over_models(layer_gram)), jax.jit(over_models(forward))
    self.gram = lambda p: gram(p, prep.folds)
    self.forward = lambda p: fwd(p, prep.folds)
    self.analyse = jax.jit(jax.vmap(jax.vmap(analyse)))
    self.trainer = Trainer(self.model, c.train, has_val=False)


def random_keys(seeds, fold_ids, n_pruned: int):
  def one(seed, fold):
    base = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), fold), _RANDOM_TAG)
    return jax.random.fold_in(base, n_pruned)
  return jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0))(
      jnp.asarray(seeds, jnp.uint32), jnp.asarray(fold_ids))


def program(programs: dict, cfg, prep: Prepared, width: int) -> "Programs":
  """The cached Programs for `width`."""
  if width not in programs:
    programs[width] = Programs(cfg, prep, width)
  return programs[width]
