"""The family-specific pieces of the pruning study, compiled once per layer width: which
model a width means, its unit group, the Gram matrix of its hidden activations over each
fold's training rows (MLP layer outputs, or RNN hidden states over every valid time step),
its forward pass for timing, and the angle analysis among living units. Everything is
vmapped over folds (outer) and seeds (inner)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegjax.models import MLP, ElmanRNN
from eegjax.pruning.discover import Program
from eegjax.pruning.distinctiveness import angles_from_gram, pair_mask
from eegjax.pruning.engine import Collector
from eegjax.pruning.distinctiveness import min_angle as min_angle_of
from eegjax.pruning import discover_groups
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


def model_groups(model, params, example):
  """The prunable unit groups of `model`, discovered from its traced computation on
  `example` (inputs and, for sequences, lengths: the data's layout), in program order."""
  x, lengths = example
  args = (x,) if lengths is None else (x, lengths)
  return [g for g in discover_groups(model.apply, params, *args) if g.prunable]


def unit_group(cfg, prep: Prepared):
  """The group of hidden layer cfg.layer (the RNN's hidden units), found by discovery
  on the full-width model."""
  c = cfg.classify
  model = build(c.model, c.hidden_sizes, prep.ds.num_classes, c.activation)
  x, _, lengths = prep.data
  example = (x[:2], None if lengths is None else lengths[:2])
  params = model.init(jax.random.key(0), *[a for a in example if a is not None])
  return model_groups(model, params, example)[cfg.layer]


def build(family: str, sizes, num_classes: int, activation: str):
  if family == "rnn":
    return ElmanRNN(hidden_size=sizes[0], num_classes=num_classes)
  return MLP(tuple(sizes), num_classes, activation)


class Programs:
  """Jitted, vmapped programs for one layer width (recompiled as the width shrinks)."""

  def __init__(self, cfg, prep: Prepared, width: int):
    c = cfg.classify
    self.model = build(c.model, sizes(cfg, width), prep.ds.num_classes, c.activation)
    data, model = prep.data, self.model
    x0, _, l0 = data
    example = (x0[:2],) if l0 is None else (x0[:2], l0[:2])
    traced = Program(model.apply, model.init(jax.random.key(0), *example), *example)
    self.group = [g for g in traced.groups if g.prunable][cfg.layer]
    collect = Collector(traced, [self.group])
    name, chunk = self.group.name, 16 if c.model == "rnn" else 4096

    def layer_gram(params, folds):
      """Gram matrix of the layer's activations where discovery found them (the MLP
      layer's nonlinearity; the RNN's state at every valid step) over the training rows."""
      x, _, lengths = scale_rows(data, folds.train_idx, folds.lo, folds.scale)
      args = (x,) if lengths is None else (x, lengths)
      return collect(params, *args, weights=folds.train_w, lengths=lengths,
                     chunk=chunk)[name].gram

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
