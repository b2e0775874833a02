"""The family-specific pieces of the pruning study, compiled once per layer width: which
model a width means, its unit group, the Gram matrix of its hidden activations over each
fold's training rows (MLP layer outputs, or RNN hidden states over every valid time step),
its forward pass for timing, and the angle analysis among living units. Everything is
vmapped over folds (outer) and seeds (inner)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegjax.pruning.discover import Program
from eegjax.pruning.distinctiveness import angles_from_gram, pair_mask
from eegjax.pruning.engine import Collector
from eegjax.pruning.distinctiveness import min_angle as min_angle_of
from eegjax.studies.classification import Prepared, build_model
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


class Traced:
  """The full-width model traced once per study: its layer's unit group (found by
  discovery) and the collector of that group's activations, which serves every width."""

  def __init__(self, cfg, prep: Prepared):
    c = cfg.classify
    model = build(c, c.hidden_sizes, prep.ds.num_classes)
    x, _, lengths = prep.data
    example = (x[:2],) if lengths is None else (x[:2], lengths[:2])
    program = Program(model.apply, model.init(jax.random.key(0), *example), *example)
    self.group = [g for g in program.groups if g.prunable][cfg.layer]
    self.collect = Collector(program, [self.group])


def traced(programs: dict, cfg, prep: Prepared) -> Traced:
  if "traced" not in programs:
    programs["traced"] = Traced(cfg, prep)
  return programs["traced"]


def build(classify, sizes, num_classes: int):
  """The study's model at other hidden sizes."""
  return build_model(classify.model, sizes, num_classes, classify.activation, classify.cell)


class Programs:
  """Jitted, vmapped programs for one layer width (recompiled as the width shrinks)."""

  def __init__(self, cfg, prep: Prepared, width: int, found: Traced):
    c = cfg.classify
    self.model = build(c, sizes(cfg, width), prep.ds.num_classes)
    data, model = prep.data, self.model
    self.group, collect = found.group, found.collect
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
    programs[width] = Programs(cfg, prep, width, traced(programs, cfg, prep))
  return programs[width]
