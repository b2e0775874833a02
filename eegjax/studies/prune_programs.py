"""The family-specific pieces of the pruning study, compiled once per study: the trained
(full-width) model, its layer's unit group, the Gram matrix of the group's activations over
each fold's training rows (MLP layer outputs, or RNN hidden states over every valid time
step), the evaluation and the angle analysis among living units.

Pruning keeps every array at the trained width: a pruned unit is zeroed (weights in and
out) and marked dead in an `alive` mask, which computes what the structurally cut network
computes, so one compiled program serves every width. Only the inference timing runs the
cut network itself (`Timer`: one small compile per width). Everything but the timing is
vmapped over folds (outer) and seeds (inner).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.evaluate.timing import latency_ms
from eegjax.pruning.discover import Program
from eegjax.pruning.distinctiveness import angles_from_gram, pair_mask
from eegjax.pruning.distinctiveness import min_angle as min_angle_of
from eegjax.pruning.engine import Collector
from eegjax.studies import prune_loop
from eegjax.studies.classification import Prepared, build_model
from eegjax.train import Trainer, sharding
from eegjax.train.folds import scale_rows

_RANDOM_TAG = 2
TIMING_ROWS = 64      # inference latency: one model's forward pass over this many test rows


def over_models(fn):
  """vmap fn(params, folds, data) over seeds (inner: params only) and folds (outer); the
  data is every model's."""
  return jax.vmap(jax.vmap(fn, in_axes=(0, None, None)), in_axes=(0, 0, None))


def sizes(cfg, width: int) -> tuple[int, ...]:
  sizes = list(cfg.classify.hidden_sizes)
  sizes[cfg.layer] = width
  return tuple(sizes)


def build(classify, sizes, num_classes: int):
  """The study's model at other hidden sizes."""
  return build_model(classify.model, sizes, num_classes, classify.activation, classify.cell)


class Programs:
  """The study's compiled programs at the trained width, built once and shared by every
  criterion: the unit group (found by discovery on the traced model), the Gram matrices,
  the test evaluation and the analysis of angles among living units."""

  def __init__(self, cfg, prep: Prepared):
    c = cfg.classify
    self.model = model = build(c, c.hidden_sizes, prep.ds.num_classes)
    data = prep.data
    x, _, lengths = data
    example = (x[:2],) if lengths is None else (x[:2], lengths[:2])
    program = Program(model.apply, jax.jit(model.init)(jax.random.key(0), *example),
                      *example)
    self.group = group = [g for g in program.groups if g.prunable][cfg.layer]
    collect = Collector(program, [group])
    chunk = 16 if c.model == "rnn" else 4096

    def layer_gram(params, folds, data):
      """Gram matrix of the layer's activations where discovery found them (the MLP
      layer's nonlinearity; the RNN's state at every valid step) over the training rows."""
      x, _, lengths = scale_rows(data, folds.train_idx, folds.lo, folds.scale)
      args = (x,) if lengths is None else (x, lengths)
      return collect(params, *args, weights=folds.train_w, lengths=lengths,
                     chunk=chunk)[group.name].gram

    def analyse(g, alive):
      """Angles, min angle and pairs within the thresholds among living units."""
      ang = angles_from_gram(g)
      p = cfg.prune
      within = pair_mask(alive) & ((ang < p.similar_deg) | (ang > p.complementary_deg))
      return ang, min_angle_of(ang, alive), within.sum() // 2

    layout = sharding.plan(len(prep.parts), len(prep.seeds), c.num_devices)
    gram = jax.jit(over_models(layer_gram))
    self.gram = lambda p: layout.call(gram, (p, prep.folds, data), "mfs")
    self.analyse = jax.jit(jax.vmap(jax.vmap(analyse)))
    self.trainer = Trainer(model, c.train, has_val=False, num_devices=c.num_devices)
    self.timer = Timer(cfg, prep, group)


class Timer:
  """Inference latency of the cut network at each width: fold 0's first seed's model over
  the first TIMING_ROWS rows of its test part (median of repeats), compiled once per
  width."""

  def __init__(self, cfg, prep: Prepared, group):
    self.cfg, self.prep, self.group, self.compiled = cfg, prep, group, {}
    folds = prep.folds
    rows = np.asarray(folds.test_idx[0])[np.asarray(folds.test_w[0]) > 0][:TIMING_ROWS]
    x, _, lengths = scale_rows(prep.data, jnp.asarray(rows), folds.lo[0], folds.scale[0])
    self.args = (x,) if lengths is None else (x, lengths)

  def __call__(self, params, alive=None) -> float:
    """Milliseconds of one forward pass of model (0, 0) of `params`, cut to the units
    `alive` marks (None: as it is)."""
    first = jax.tree.map(lambda a: np.asarray(a[:1, :1]), params)
    if alive is not None:
      first = prune_loop.cut(first, np.asarray(alive)[:1, :1], self.group)
    one = jax.tree.map(lambda a: a[0, 0], first)
    width = self.group.size(one)
    if width not in self.compiled:
      model = build(self.cfg.classify, sizes(self.cfg, width), self.prep.ds.num_classes)
      rnn = self.cfg.classify.model == "rnn"
      self.compiled[width] = jax.jit(
          (lambda p, x, l: model.apply(p, x, lengths=l)) if rnn else model.apply)
    return latency_ms(self.compiled[width], one, *self.args, repeats=5, warmup=1)


def random_keys(seeds, fold_ids, n_pruned: int, tag: int = _RANDOM_TAG):
  """The random criterion's key for each (fold, seed) model at size `n_pruned`, from
  fold_in(key(seed), fold) like every other key of a model."""
  def one(seed, fold):
    base = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), fold), tag)
    return jax.random.fold_in(base, n_pruned)
  return jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0))(
      jnp.asarray(seeds, jnp.uint32), jnp.asarray(fold_ids))


def programs(cache: dict, cfg, prep: Prepared) -> Programs:
  """The study's Programs, built on first use and kept in `cache` across criteria."""
  if "programs" not in cache:
    cache["programs"] = Programs(cfg, prep)
  return cache["programs"]
