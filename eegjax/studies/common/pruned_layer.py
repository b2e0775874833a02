"""Pruning one hidden layer of a study's classifier (MLP layer or RNN hidden units), the
machinery the pruning, alcoholism and GAN studies share: `PruneStudyConfig` (declared
in prune_config.py), one criterion's progressive pruning of every model (`run_criterion`,
through the one pruning loop `sweep.run`), fine-tuning, and `restore_pruned` for a saved
pruned network.

The family-specific pieces, compiled once per study (`Programs`): the trained
(full-width) model, its layer's unit group, the Gram matrix of the group's activations over
each fold's training rows (MLP layer outputs, or RNN hidden states over every valid time
step), the evaluation and the angle analysis among living units. An MLP layer's statistics
are computed once, for the trained networks (`Programs.analysis`).

Pruning keeps every array at the trained width: a pruned unit is zeroed (weights in and
out) and marked dead in an `alive` mask, computing what the cut network computes, so one
compiled program serves every width; only the inference timing runs the cut network
(`Timer`: a compile and a measurement per width). All but the timing is vmapped over
folds and seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegjax.errors import ConfigError
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import summarize_metric
from eegjax.evaluate.timing import latency_ms
from eegjax.models import registry
from eegjax.pruning.discover import Program, discover_groups
from eegjax.pruning.progressive import PruneConfig
from eegjax.pruning.distinctiveness import angles_from_gram, pair_mask
from eegjax.pruning.distinctiveness import min_angle as min_angle_of
from eegjax.pruning.engine import Collector
from eegjax.pruning.surgery import scale_outgoing
from eegjax.pruning import sweep
from eegjax.studies.common.regimes import tested_row
from eegjax.studies.common.classifier import Prepared, build_model
from eegjax.studies.common.prune_config import PruneStudyConfig
from eegjax.train import Trainer, sharding
from eegjax.run.checkpoints import Checkpoints
from eegjax.train.folds import scale_rows

_RANDOM_TAG = 2
TIMING_ROWS = 64      # inference latency: one model's forward pass over this many test rows


def over_models(fn):
  """vmap fn(params, folds, data) over seeds (inner) and folds (outer); data is shared."""
  return jax.vmap(jax.vmap(fn, in_axes=(0, None, None)), in_axes=(0, 0, None))


def sizes(cfg, width: int) -> tuple[int, ...]:
  sizes = list(cfg.classify.hidden_sizes)
  sizes[cfg.layer] = width
  return tuple(sizes)


class Programs:
  """The study's compiled programs at the trained width, built once and shared by every
  criterion: the unit group (found by discovery on the traced model), the Gram matrices,
  the test evaluation and the analysis of angles among living units."""

  def __init__(self, cfg, prep: Prepared):
    """The study's pruning programs at the trained width. Long: the programs close over
    one traced model, its data and the study's config; each of them is short."""
    c = cfg.classify
    self.model = model = c.build(prep.ds.num_classes)
    data = prep.data
    x, _, lengths = data
    example = (x[:2],) if lengths is None else (x[:2], lengths[:2])
    program = Program(model.apply, jax.jit(model.init)(jax.random.key(0), *example),
                      *example)
    self.groups = [g for g in program.groups if g.prunable]   # one per hidden layer
    self.group = group = self.groups[cfg.layer]
    collect = Collector(program, [group])
    chunk = 16 if c.model == "rnn" else 4096

    def layer_gram(params, folds, data):
      """Statistics of the layer's activations where discovery found them (the MLP
      layer's nonlinearity; the RNN's state at every valid step) over the training rows:
      the Gram matrix of the centred activations, each unit's mean and variance."""
      x, _, lengths = scale_rows(data, folds.train_idx, folds.lo, folds.scale)
      args = (x,) if lengths is None else (x, lengths)
      st = collect(params, *args, weights=folds.train_w, lengths=lengths,
                   chunk=chunk)[group.name]
      n = jnp.maximum(st.count, 1.0)
      m = st.total / n
      return {"gram": st.gram, "mean": group.centre + m,
              "var": jnp.diagonal(st.gram) / n - m ** 2, "count": st.count}

    def layer_taylor(params, folds, data):
      """First-order Taylor importance of every unit over the training rows: |mean over
      patterns of activation x dLoss/dactivation|, the gradient of the mean loss by a gate
      on each unit's outgoing weights (`surgery.scale_outgoing`) at 1."""
      x, y, lengths = scale_rows(data, folds.train_idx, folds.lo, folds.scale)
      w = folds.train_w.astype(jnp.float32)
      n = x.shape[0]
      size = min(chunk, n)
      pad = (-n) % size
      cut = lambda a: jnp.concatenate(  # noqa: E731
          [a, jnp.zeros((pad,) + a.shape[1:], a.dtype)]).reshape((-1, size) + a.shape[1:])
      units = group.size(params)

      def chunk_grad(inputs):
        xb, yb, wb, lb = inputs

        def loss(gates):
          p = scale_outgoing(params, group, gates)
          logits = model.apply(p, xb) if lengths is None else model.apply(p, xb, lengths=lb)
          return jnp.sum(wb * optax.softmax_cross_entropy_with_integer_labels(logits, yb))
        return jax.grad(loss)(jnp.ones(units, jnp.float32))

      lb = None if lengths is None else cut(lengths)
      grads = jax.lax.map(chunk_grad, (cut(x), cut(y), cut(w), lb)).sum(0)
      return jnp.abs(grads) / jnp.maximum(w.sum(), 1.0)

    def analyse(g, alive):
      """Angles, min angle and pairs within the thresholds among living units."""
      ang = angles_from_gram(g)
      p = cfg.prune
      within = pair_mask(alive) & ((ang < p.similar_deg) | (ang > p.complementary_deg))
      return ang, min_angle_of(ang, alive), within.sum() // 2

    layout = sharding.plan(len(prep.parts), len(prep.seeds), c.num_devices)
    gram = jax.jit(over_models(layer_gram))
    taylor = jax.jit(over_models(layer_taylor))
    self.gram = lambda p: layout.call(gram, (p, prep.folds, data), "mfs")
    self.taylor = lambda p: layout.call(taylor, (p, prep.folds, data), "mfs")
    self.analyse = jax.jit(jax.vmap(jax.vmap(analyse)))
    self.trainer = Trainer(model, c.train, has_val=False, num_devices=c.num_devices)
    self.timer = Timer(cfg, prep, group)
    self.static_stats = c.model == "mlp" and not cfg.finetune_epochs   # see `analysis`
    self.trained = None

  def steps(self, cfg) -> dict:
    """The vmapped pruning step of each of the study's variants, one compiled program
    shared by those that read the same statistics (`sweep.shared_steps`)."""
    if not hasattr(self, "_steps"):
      self._steps = sweep.shared_steps(cfg.variants(), self.group)
    return self._steps

  def analysis(self, params, pcfg: PruneConfig, alive=None) -> dict:
    """What a pruning step of `pcfg`'s criterion and compensation reads, for every model:
    the Gram matrix, each unit's mean and variance, the count of patterns and (taylor) the
    importances. An MLP layer's activations depend only on the layers before it, which
    pruning leaves alone (compensation changes the weights after it; a pruned unit's
    weights in are zeroed, so its centred activation is 0): without fine-tuning its
    statistics are the trained networks' with the dead units' rows zeroed (`alive`, (F, S,
    U)), computed once for every variant and size (the same numbers: tested)."""
    if alive is None or not self.static_stats:
      out = self.gram(params)
    else:
      alive = np.asarray(alive)
      if self.trained is None and alive.all():     # the trained networks (0 pruned)
        self.trained = self.gram(params)
      out = self.gram(params) if self.trained is None else \
          dead_zeroed(self.trained, alive, self.group.centre)
    if "taylor" in pcfg.needs:
      out["taylor"] = self.taylor(params)
    return out


def dead_zeroed(stats: dict, alive, centre: float) -> dict:
  """A layer's statistics (gram, mean, var, count over (F, S) models) with the units that
  `alive` (F, S, U) marks dead made constant at `centre`: what they are once zeroed."""
  both = alive[..., :, None] & alive[..., None, :]
  return {"gram": np.where(both, stats["gram"], 0.0).astype(stats["gram"].dtype),
          "mean": np.where(alive, stats["mean"], centre).astype(stats["mean"].dtype),
          "var": np.where(alive, stats["var"], 0.0).astype(stats["var"].dtype),
          "count": stats["count"]}


class Timer:
  """Inference latency of the cut network at each width: fold 0's first seed's model over
  the first TIMING_ROWS rows of its test part (median of repeats), compiled and measured
  once per width (every variant's network of that width has the same architecture)."""

  def __init__(self, cfg, prep: Prepared, group):
    self.cfg, self.prep, self.group, self.ms = cfg, prep, group, {}
    folds = prep.folds
    rows = np.asarray(folds.test_idx[0])[np.asarray(folds.test_w[0]) > 0][:TIMING_ROWS]
    x, _, lengths = scale_rows(prep.data, jnp.asarray(rows), folds.lo[0], folds.scale[0])
    self.args = (x,) if lengths is None else (x, lengths)

  def __call__(self, params, alive=None) -> float:
    """Milliseconds of one forward pass of model (0, 0) of `params`, cut to the units
    `alive` marks (None: as it is)."""
    width = (self.group.size(jax.tree.map(lambda a: a[0, 0], params)) if alive is None
             else int(np.asarray(alive)[0, 0].sum()))
    if width not in self.ms:
      first = jax.tree.map(lambda a: np.asarray(a[:1, :1]), params)
      if alive is not None:
        first = sweep.cut(first, np.asarray(alive)[:1, :1], self.group)
      one = jax.tree.map(lambda a: a[0, 0], first)
      model = self.cfg.classify.build(self.prep.ds.num_classes, sizes(self.cfg, width))
      rnn = self.cfg.classify.model == "rnn"
      apply = jax.jit((lambda p, x, l: model.apply(p, x, lengths=l)) if rnn else model.apply)
      self.ms[width] = latency_ms(apply, one, *self.args, repeats=5, warmup=1)
    return self.ms[width]


def random_keys(seeds, fold_ids, n_pruned: int, tag: int = _RANDOM_TAG):
  """The random criterion's key for each (fold, seed) model at size `n_pruned`, from
  fold_in(key(seed), fold) like every other key of a model (one program for every size:
  before every pruning step, op by op it took 25 ms)."""
  return _random_keys(jnp.asarray(seeds, jnp.uint32), jnp.asarray(fold_ids), n_pruned, tag)


@jax.jit
def _random_keys(seeds, fold_ids, n_pruned, tag):
  def one(seed, fold):
    base = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), fold), tag)
    return jax.random.fold_in(base, n_pruned)
  return jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0))(seeds, fold_ids)


def programs(cache: dict, cfg, prep: Prepared) -> Programs:
  """The study's Programs, built on first use and kept in `cache` across criteria."""
  if "programs" not in cache:
    cache["programs"] = Programs(cfg, prep)
  return cache["programs"]


def run_criterion(cfg: PruneStudyConfig, prep: Prepared, params, pcfg: PruneConfig,
                  wd, ckpt: Checkpoints, cache: dict, save_every_s: float = 0.0) -> dict:
  """Progressive pruning of every model under one variant (`pcfg`: criterion,
  compensation, masking) through the one pruning loop (`sweep.run`); one row per
  size. Returns {rows, actions, stop, params, alive}: `params` are the last evaluated
  (smallest) networks. `cache` keeps the study's compiled programs (one set at the
  trained width) across variants. Each row keeps every test row's predicted class
  (`predicted`, (folds, seeds, rows)) for predictions.npz and the paired tests.

  Long: it builds the sweep's measure and choose callbacks, which share this variant's
  programs."""
  width = cfg.classify.hidden_sizes[cfg.layer]
  prog = programs(cache, cfg, prep)
  size = (lambda n: width) if pcfg.masked else (lambda n: width - n)   # the network's width
  label = pcfg.label

  def measure(params, alive, n):
    t0 = time.perf_counter()
    grams = prog.analysis(params, pcfg, alive)
    _, min_ang, pairs = (np.asarray(a) for a in prog.analyse(grams["gram"], alive))
    row = tested_row(prog, prep, params, {"pairs": pairs}, {"min_angle": min_ang})
    analyse_ms = 1e3 * (time.perf_counter() - t0)
    exec_ms = prog.timer(params, None if pcfg.masked else alive)   # the cut network
    row = {"criterion": pcfg.criterion, "compensation": pcfg.compensation,
           **({"masked": True} if pcfg.masked else {}),
           "units_pruned": n, "hidden_units": width - n, **row,
           "exec_ms": exec_ms, "analyse_ms": analyse_ms}
    if cfg.finetune_epochs and n > 0:
      params, grams = _finetune(cfg, prep, prog, params, alive), None   # activations moved
      tuned = prog.trainer.evaluate(params, prep.folds, prep.data, "test")
      row["finetuned"] = {k: summarize_metric(k, tuned[k]) for k in SCALARS}
    acc = row["summary"]["accuracy"]
    wd.log(f"{label}: {n:3d} pruned, {width - n:3d} units  accuracy {acc['mean']:.4f} "
           f"[{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}]  min angle "
           f"{row['summary']['min_angle']['mean']:.1f}  pairs "
           f"{row['summary']['pairs']['mean']:.1f}")
    return row, grams, params

  layout = sharding.plan(len(prep.parts), len(prep.seeds), cfg.classify.num_devices)
  family = sweep.Family(
      group=prog.group, measure=measure, grams=lambda p, n: prog.analysis(p, pcfg),
      keys=lambda n: random_keys(prep.seeds, prep.folds.fold_id, n),
      meta=lambda n: {
          "criterion": pcfg.criterion, "compensation": pcfg.compensation,
          "rule": cfg.prune.rule, "units_pruned": n, "layer": cfg.layer,
          "family": cfg.classify.model, "masked": pcfg.masked,
          "hidden_sizes": list(sizes(cfg, size(n))),
          "stored_hidden_sizes": list(cfg.classify.hidden_sizes),
          "input_shape": list(prep.ds.x.shape[1:]),
          "activation": cfg.classify.activation, "cell": cfg.classify.cell,
          "model": registry.spec(prog.model),
          "model_pruned": registry.spec(cfg.classify.build(prep.ds.num_classes,
                                                           sizes(cfg, size(n)))),
          "leading_axes": ["fold", "seed"]},
      log=wd.log, call=lambda fn, args: layout.call(fn, args, "mmmmmm"),
      step=prog.steps(cfg).get(pcfg.label),
      model_name=lambda f, s: f"seed {prep.seeds[s]}, fold {f}")
  return sweep.run(family, pcfg, params, width, cfg.limit, cfg.prune.beyond_thresholds,
                   ckpt, label, save_every_s)


def _finetune(cfg: PruneStudyConfig, prep: Prepared, prog, params, alive):
  """The pruned networks trained --finetune_epochs more. They train cut to their living
  units (a dead unit at full width would still learn outgoing weights from its constant
  activation), then go back to the full-width layout with the dead units zero. The one
  part of the study compiled per width."""
  small = sweep.cut(params, alive, prog.group)
  width = prog.group.size(jax.tree.map(lambda a: a[0, 0], small))
  ft_cfg = dataclasses.replace(cfg.classify.train,
                               epochs=cfg.classify.train.epochs + cfg.finetune_epochs)
  model = cfg.classify.build(prep.ds.num_classes, sizes(cfg, width))
  ft = Trainer(model, ft_cfg, has_val=False, num_devices=cfg.classify.num_devices)
  fit = ft.fit(prep.seeds, prep.folds, prep.data, state=ft.start_from(small),
               start_epoch=cfg.classify.train.epochs, log=lambda m: None)
  return sweep.uncut(fit.params, alive, prog.group, params)


def checkpoint_dir(pcfg: PruneConfig) -> str:
  """A variant's checkpoint folder under checkpoints/: criterion-compensation[-masked]."""
  return pcfg.label.replace("/", "-")


def restore_pruned(workdir: str, criterion: str, units_pruned: int,
                   compensation: str = "mean", masked: bool = False):
  """(model, params with leading (fold, seed) axes, meta) of a pruned checkpoint of the
  variant (criterion, compensation, masked): the network cut to its living units (masked:
  at full width, the pruned units zero)."""
  path = os.path.join(os.path.abspath(workdir), "checkpoints", checkpoint_dir(PruneConfig(
      criterion=criterion, compensation=compensation, masked=masked)))
  ckpt = Checkpoints(path, keep=None)
  found = sweep.restore_size(ckpt, units_pruned)
  if found is None:
    raise ConfigError(f"{path}: no checkpoint for {units_pruned} pruned units; have "
                      f"{sweep.saved_sizes(ckpt)}")
  params, alive, meta = found
  ckpt.close()
  if "model" in meta:           # the models' specs (eegjax.models.registry)
    full, pruned = registry.from_spec(meta["model"]), registry.from_spec(meta["model_pruned"])
  else:                         # checkpoints written before the registry: read the sizes
    head = "readout" if meta["family"] == "rnn" else f"Dense_{len(meta['hidden_sizes'])}"
    build = functools.partial(build_model, meta["family"],
                              num_classes=int(params["params"][head]["kernel"].shape[-1]),
                              activation=meta["activation"], cell=meta.get("cell", "elman"))
    full, pruned = build(meta["stored_hidden_sizes"]), build(meta["hidden_sizes"])
  if meta["masked"]:
    pruned = full
  else:
    example = (jnp.zeros((2, *meta["input_shape"])),)
    if meta["family"] == "rnn":
      example += (jnp.full((2,), meta["input_shape"][0]),)
    group = [g for g in discover_groups(full.apply, jax.tree.map(lambda a: a[0, 0], params),
                                        *example) if g.prunable][meta["layer"]]
    params = sweep.cut(params, alive, group)
  return pruned, params, meta
