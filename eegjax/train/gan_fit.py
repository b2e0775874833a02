"""GAN training: jitted alternating discriminator and generator steps (optax Adam) for
every (fold, seed) model, vmapped over folds (outer) and seeds (inner) like the
classification program (eegjax.train.fit), on the same padded, weighted FoldArrays; on
CPU the same per-model functions run model by model instead (see `GanTrainer`).

The data are a trial's features (the 192 band powers); `to_images` turns rows min-max
scaled with the fold's training statistics into 32x32x3 images in [-1, 1] inside the
batch, so no per-fold copy of the images is kept.

Per batch (AC-GAN, Odena et al. 2017): the generator draws fakes conditioned on the real
batch's classes; the discriminator takes one Adam step on
    D_adv = BCE(real -> real) + BCE(fake -> fake)
    D_cls = (CE(class | real) + CE(class | fake)) / 2   (semi-supervised: real only)
    D_total = D_adv + D_cls
then the generator one step on G = BCE(fake -> real) + CE(class | fake) through the
updated discriminator; then g_avg <- a g_avg + (1 - a) g with a = min(--g_average,
(1 + t) / (10 + t)) at step t: a moving average of the generator's weights (Karras et al.
2018; Yazici et al. 2019), with the usual warm-up. The averaged generator is the one used
(evaluated, drawn, measured, kept as the best); it smooths the game's oscillation out of
the samples (--g_average=0: the trained generator itself). Confidences: D_cls_real /
D_cls_fake are the mean probability the class head gives the true / conditioned class on
real / fake images, D_adv_real / D_adv_fake the mean probability of "real" on them.

Every epoch reports each model's metrics on its training part (the means over the epoch's
batches, as the training saw them) and on its validation and test parts (evaluated after
the epoch, the fakes drawn from a fixed noise key so epochs compare); the validation class
loss on real images (`val_cls`) picks each model's best epoch, whose generator and
discriminator are kept in the state (best_g, best_d).

Randomness: the model key is fold_in(key(seed), fold) (threefry: the same draws vmapped or
model by model, which XLA's faster-compiling "rbg" keys do not give); initialisation, each
epoch's shuffle and noise and the evaluation noise are fold_ins of it, so a run resumed
from a checkpoint draws what an uninterrupted one does.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegjax.arrays import take
from eegjax.errors import ConfigError
from eegjax.evaluate.metrics import classification_metrics, cross_entropy
from eegjax.models.gan import split_outputs
from eegjax.train import driver, sharding
from eegjax.train.step import shuffle_order
from eegjax.train.folds import FoldArrays, scale_rows
from eegjax.train.gan_config import GanConfig, GanState, step_carry  # noqa: F401 (GanConfig)
from eegjax.train.gan_losses import batch_terms, bce

_INIT_G, _INIT_D, _EPOCH, _EVAL = 0, 1, 2, 3
PARTS = ("train", "val", "test")
LAYOUTS = ("vmap", "loop")
METRICS = ("D_cls", "D_adv", "D_total", "G", "D_cls_real", "D_cls_fake", "D_adv_real",
           "D_adv_fake", "accuracy")
CURVES = METRICS[:-1]     # the losses and confidences drawn and logged


def _as_block(state, metrics, improved):
  """An epoch's outputs in the driver's form: (state, {part/metric: (F, S, 1)}, active)."""
  del improved   # the best epoch is in the state (best_epoch)
  values = {f"{p}/{m}": metrics[p][m][..., None] for p in PARTS for m in METRICS}
  return state, values, jnp.ones(values["train/D_total"].shape, bool)


class GanPrograms:
  """The GAN's per-model pure functions (what `GanTrainer` compiles): initialisation, one
  training step on a batch, an epoch's batches, its evaluation and best-model
  bookkeeping, and their vmaps over (fold, seed) models."""

  def __init__(self, generator, discriminator, cfg: GanConfig, to_images, has_val: bool,
               output_fn, g_tx, d_tx):
    self.g_model, self.d_model, self.cfg = generator, discriminator, cfg
    self.to_images, self.has_val, self.output_fn = to_images, has_val, output_fn
    self.g_tx, self.d_tx = g_tx, d_tx
    self.semi = cfg.semi_supervised
    self.noise_shape = tuple(generator.noise_shape)

  def g_apply(self, g, z, y):
    img = self.g_model.apply(g, z, y)
    return img if self.output_fn is None else self.output_fn(img)

  def images(self, data, idx, folds: FoldArrays):
    x, y, _ = scale_rows((*data, None), idx, folds.lo, folds.scale)
    return self.to_images(x), y

  def model_key(self, seed, folds):
    return driver.model_key(seed, folds.fold_id)

  def init_one(self, seed, folds, data):
    key = self.model_key(seed, folds)
    xb, yb = self.images(data, folds.train_idx[:2], folds)
    z = jnp.zeros((2,) + self.noise_shape)
    g = self.g_model.init(jax.random.fold_in(key, _INIT_G), z, yb)
    d = self.d_model.init(jax.random.fold_in(key, _INIT_D), xb)
    return GanState(g, d, self.g_tx.init(g), self.d_tx.init(d), g, d,
                    jnp.array(jnp.inf, jnp.float32), jnp.array(-1, jnp.int32), g,
                    jnp.array(0, jnp.int32))

  def step(self, carry, inputs, folds, data):
    """One discriminator and one generator step on the batch of rows `ib` (weights
    `wb`); returns the new (g, d, g_opt, d_opt, g_avg, g_steps) and the batch's
    weighted terms."""
    g, d, g_opt, d_opt, g_avg, g_steps = carry
    ib, wb, key = inputs
    xb, yb = self.images(data, ib, folds)
    k_d, k_g = jax.random.split(key)
    fake = jax.lax.stop_gradient(
        self.g_apply(g, jax.random.normal(k_d, (xb.shape[0],) + self.noise_shape), yb))

    def d_loss(dp):
      t = batch_terms(self.d_model.apply(dp, xb), self.d_model.apply(dp, fake), yb, yb, wb,
                      self.semi)
      return t["D_total"], t

    d_grads, terms = jax.grad(d_loss, has_aux=True)(d)
    d_upd, new_d_opt = self.d_tx.update(d_grads, d_opt, d)
    new_d = optax.apply_updates(d, d_upd)
    z = jax.random.normal(k_g, (xb.shape[0],) + self.noise_shape)

    def g_loss(gp):
      out_f = self.d_model.apply(new_d, self.g_apply(gp, z, yb))
      cls_f, adv_f = split_outputs(out_f, self.semi)
      return bce(adv_f, 1.0, wb) + self.cfg.class_weight * cross_entropy(cls_f, yb, wb)

    g_value, g_grads = jax.value_and_grad(g_loss)(g)
    g_upd, new_g_opt = self.g_tx.update(g_grads, g_opt, g)
    new_g = optax.apply_updates(g, g_upd)
    a = jnp.minimum(self.cfg.g_average, (1.0 + g_steps) / (10.0 + g_steps))
    new_avg = jax.tree.map(lambda m, v: a * m + (1.0 - a) * v, g_avg, new_g)
    keep = jnp.sum(wb) > 0        # a batch of padding only changes nothing
    sel = lambda a, b: jax.tree.map(lambda u, v: jnp.where(keep, u, v), a, b)  # noqa
    # the training part's metrics: this batch's terms (D before its step, G after D's)
    terms = {**terms, "G": g_value}
    return ((sel(new_g, g), sel(new_d, d), sel(new_g_opt, g_opt), sel(new_d_opt, d_opt),
             sel(new_avg, g_avg), jnp.where(keep, g_steps + 1, g_steps)),
            ({k: v * wb.sum() for k, v in terms.items()}, wb.sum()))

  def evaluate_part(self, g, d, folds, data, which, key):
    idx, w = getattr(folds, f"{which}_idx"), getattr(folds, f"{which}_w")
    n = idx.shape[0]
    chunk = min(self.cfg.eval_batch_size, n)
    pad = (-n) % chunk
    idx_p = jnp.concatenate([idx, jnp.zeros((pad,), idx.dtype)]).reshape(-1, chunk)
    w_p = jnp.concatenate([w.astype(jnp.float32), jnp.zeros((pad,))]).reshape(-1, chunk)

    def one(inputs):
      ix, wb, i = inputs
      xb, yb = self.images(data, ix, folds)
      z = jax.random.normal(jax.random.fold_in(key, i), (chunk,) + self.noise_shape)
      fake = self.g_apply(g, z, yb)
      t = batch_terms(self.d_model.apply(d, xb), self.d_model.apply(d, fake), yb, yb, wb,
                      self.semi)
      return {k: v * wb.sum() for k, v in t.items()}, wb.sum()

    # chunks unrolled (few: validation and test parts), not a loop: see `epoch_all`
    outs = [one((idx_p[i], w_p[i], i)) for i in range(idx_p.shape[0])]
    total = jnp.maximum(sum(c for _, c in outs), 1.0)
    return {k: sum(o[k] for o, _ in outs) / total for k in outs[0][0]}

  def batches_one(self, epoch, seed, folds):
    """The epoch's shuffled training rows cut into batches, their weights and keys."""
    ek = jax.random.fold_in(jax.random.fold_in(self.model_key(seed, folds), _EPOCH), epoch)
    n_tr, bs = folds.train_idx.shape[0], self.cfg.batch_size
    n_batches = math.ceil(n_tr / bs)
    order = shuffle_order(jax.random.fold_in(ek, 0), folds.train_w)
    pad = n_batches * bs - n_tr
    idx = jnp.concatenate([folds.train_idx[order], jnp.zeros((pad,), jnp.int32)])
    w = jnp.concatenate([folds.train_w[order].astype(jnp.float32), jnp.zeros((pad,))])
    keys = jax.random.split(jax.random.fold_in(ek, 1), n_batches)
    return idx.reshape(n_batches, bs), w.reshape(n_batches, bs), keys

  def finish_one(self, state: GanState, carry, sums, count, epoch, seed, folds, data):
    """Training-part means, validation and test evaluation (of the averaged generator),
    best-epoch bookkeeping."""
    g, d, g_opt, d_opt, g_avg, g_steps = carry
    total = jnp.maximum(count, 1.0)
    eval_key = jax.random.fold_in(self.model_key(seed, folds), _EVAL)
    metrics = {"train": {k: v / total for k, v in sums.items()},
               **{p: self.evaluate_part(g_avg, d, folds, data, p, eval_key)
                  for p in ("val", "test")}}
    val = metrics["val"]["cls_real"]
    # without a validation part the last epoch is the best (best_val stays inf)
    improved = (val < state.best_val) if self.has_val else jnp.array(True)
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(improved, a, b),  # noqa
                                         new, old)
    new = GanState(g, d, g_opt, d_opt, pick(g_avg, state.best_g), pick(d, state.best_d),
                   jnp.where(improved & self.has_val, val, state.best_val),
                   jnp.where(improved, epoch, state.best_epoch).astype(jnp.int32), g_avg,
                   g_steps)
    return new, metrics, improved

  def epoch_one(self, state: GanState, epoch, seed, folds, data):
    idx, w, keys = self.batches_one(epoch, seed, folds)
    carry, (sums, counts) = jax.lax.scan(
        lambda c, i: self.step(c, i, folds, data),
        step_carry(state), (idx, w, keys))
    return self.finish_one(state, carry, jax.tree.map(lambda v: v.sum(), sums),
                           counts.sum(), epoch, seed, folds, data)

  def init_all(self, seeds, folds, data):
    per_seed = jax.vmap(self.init_one, in_axes=(0, None, None))
    return jax.vmap(per_seed, in_axes=(None, 0, None))(seeds, folds, data)

  def epoch_all(self, state, epoch, seeds, folds, data):
    per_seed = jax.vmap(self.epoch_one, in_axes=(0, None, 0, None, None))
    return jax.vmap(per_seed, in_axes=(0, None, None, 0, None))(state, epoch, seeds, folds,
                                                                data)


class GanTrainer:
  """The GAN family of the training driver (`eegjax.train.driver`): compiles the GAN's
  init, epoch and evaluation programs once for a pair of models."""

  history_keys = tuple(f"{p}/{m}" for p in PARTS for m in METRICS)
  loss_key = "train/D_total"

  def __init__(self, generator, discriminator, cfg: GanConfig,
               to_images: Callable[[jax.Array], jax.Array], layout: str = "auto",
               num_devices: int = 1, has_val: bool = True,
               output_fn: Optional[Callable[[jax.Array], jax.Array]] = None):
    """`layout`: "vmap" trains every (fold, seed) model side by side in one compiled
    epoch (batches in lax.scan) -- the right form on GPU and TPU; "loop" runs the models
    one after another, one compiled call per batch -- the fast form on CPU, where XLA
    runs vmapped convolutions (grouped, one group per model) and convolutions inside
    loops many times slower (2-core CPU, the U-Net generator's gradient: 5 models vmapped
    34x one model's time; 7 steps in a scan 22x 7 calls). "auto": loop on CPU, else vmap.
    Both give the same numbers to float rounding.
    `num_devices` > 1 spreads the vmap layout's models over that many devices; the loop
    layout runs on one. `has_val`: whether the folds have a validation part (without
    one, each model's best epoch is its last).
    `output_fn`: applied to every generated batch of images inside the programs, e.g.
    the head mask (-1 outside the head, as the real images are); None: the generator
    draws every pixel itself."""
    if layout == "auto":
      layout = "loop" if jax.devices()[0].platform == "cpu" else "vmap"
    if layout not in LAYOUTS:
      raise ConfigError(f"--gan_layout={layout!r}: expected one of {LAYOUTS} or auto")
    self.layout, self.num_devices, self.has_val = layout, num_devices, has_val
    self.vmapped = layout == "vmap"
    self.epochs = cfg.epochs
    self.generator, self.discriminator, self.cfg = generator, discriminator, cfg
    self.to_images = to_images
    self.g_tx = optax.adam(cfg.g_learning_rate, b1=cfg.beta1)
    self.d_tx = optax.adam(cfg.d_learning_rate, b1=cfg.beta1)
    progs = GanPrograms(generator, discriminator, cfg, to_images, has_val, output_fn,
                        self.g_tx, self.d_tx)
    self._init = jax.jit(progs.init_all)
    self._init_one = jax.jit(progs.init_one)
    self._epoch_all = lambda *args: _as_block(*progs.epoch_all(*args))
    self._blocks: dict = {}
    # the per-model pieces of the "loop" layout
    self._batches = jax.jit(progs.batches_one)
    self._step = jax.jit(progs.step)
    self._finish = jax.jit(progs.finish_one)
    self.images = progs.images
    self._generate = jax.jit(progs.g_apply)

  def _models(self, folds: FoldArrays, num_seeds: int):
    """Where the vmap layout's models live (sharding.plan over num_devices)."""
    return sharding.plan(len(np.asarray(folds.fold_id)), num_seeds, self.num_devices)

  # -- the driver's Family protocol ------------------------------------------------------
  def block_epochs(self) -> int:
    return 1    # one epoch per call: the best models and image grids are per epoch

  def init(self, seeds, folds: FoldArrays, data, layout=None) -> GanState:
    seeds_arr = jnp.asarray(seeds, jnp.uint32)
    if self.vmapped:
      return self._init(seeds_arr, folds, data)
    n_f = len(np.asarray(folds.fold_id))
    outs = [self._init_one(seeds_arr[s], take(folds, f), data)
            for f in range(n_f) for s in range(len(seeds))]
    return sharding.stack_models(outs, n_f, len(seeds))

  def block(self, layout, n: int, folds: FoldArrays):
    """One epoch of every model: (state, {part/metric: (F, S, 1)}, active (F, S, 1))."""
    assert n == 1, n
    if not self.vmapped:
      return self._loop_epoch
    if layout not in self._blocks:
      self._blocks[layout] = (jax.jit(self._epoch_all) if layout.mesh is None else
                              jax.jit(self._epoch_all, out_shardings=layout.models))
    return self._blocks[layout]

  def stored(self, state: GanState) -> GanState:
    return state

  def restored(self, state: GanState) -> GanState:
    return state

  def progress(self, last: dict, live: np.ndarray) -> list[str]:
    parts = [p for p in PARTS if p != "val" or self.has_val]
    return [f"{p:>5}: " + "  ".join(f"{m} {float(np.mean(last[f'{p}/{m}'])):.4f}"
                                    for m in CURVES) for p in parts]

  # -- use -------------------------------------------------------------------------------
  def fit(self, seeds, folds: FoldArrays, data, *, log: Callable[[str], None] = print,
          checkpoints=None, checkpoint_every: int = 0, label: str = "",
          after_block=None) -> driver.Run:
    """Trains every (fold, seed) GAN through the driver (`driver.train`)."""
    return driver.train(self, seeds, folds, data, num_devices=self.num_devices,
                        checkpoints=checkpoints, checkpoint_every=checkpoint_every, log=log,
                        label=label, after_block=after_block)

  def _loop_epoch(self, state: GanState, epoch, seeds, folds: FoldArrays, data):
    """The loop layout's epoch: model after model, one compiled call per batch."""
    outs = []
    for f in range(len(np.asarray(folds.fold_id))):
      fa = take(folds, f)
      for s in range(len(seeds)):
        one = take(state, f, s)
        idx, w, keys = self._batches(epoch, seeds[s], fa)
        carry, sums, count = step_carry(one), None, 0.0
        for b in range(idx.shape[0]):
          carry, (terms, c) = self._step(carry, (idx[b], w[b], keys[b]), fa, data)
          sums = terms if sums is None else jax.tree.map(jnp.add, sums, terms)
          count = count + c
        outs.append(self._finish(one, carry, sums, count, epoch, seeds[s], fa, data))
    n_f, n_s = len(np.asarray(folds.fold_id)), len(seeds)
    return _as_block(*sharding.stack_models(outs, n_f, n_s))

  def map_models(self, fn: Callable, params, folds: FoldArrays):
    """fn(params of one model, its fold's FoldArrays) for every (fold, seed) model, the
    results stacked (F, S, ...): vmapped in the vmap layout, model by model in the loop
    layout (where vmapped convolutions are slow; see __init__)."""
    if self.layout == "vmap":
      n_s = jax.tree.leaves(params)[0].shape[1]
      return self._models(folds, n_s).call(
          jax.jit(jax.vmap(jax.vmap(fn, in_axes=(0, None)), in_axes=(0, 0))), (params, folds),
          "mf")
    one = jax.jit(fn)
    n_f, n_s = np.asarray(jax.tree.leaves(params)[0]).shape[:2]
    outs = [one(take(params, f, s), take(folds, f))
            for f in range(n_f) for s in range(n_s)]
    return sharding.stack_models(outs, n_f, n_s)

  def classify(self, d_params, folds: FoldArrays, data, which: str = "test",
               discriminator=None) -> dict:
    """The discriminator's class head as a classifier on real images of each model's
    `which` part (`discriminator`: another module for these params, e.g. a pruned one):
    classification metrics shaped (F, S)."""
    d_model = self.discriminator if discriminator is None else discriminator
    semi = self.cfg.semi_supervised

    def one(dp, fa):
      idx, w = getattr(fa, f"{which}_idx"), getattr(fa, f"{which}_w")
      xb, yb = self.images(data, idx, fa)
      cls, _ = split_outputs(d_model.apply(dp, xb), semi)
      return classification_metrics(cls, yb, w)

    return jax.tree.map(np.asarray, self.map_models(one, d_params, folds))

  def generate(self, g_params, labels, key) -> jax.Array:
    """Images from one generator (no leading model axes) for the given classes."""
    labels = jnp.asarray(labels, jnp.int32)
    z = jax.random.normal(key, (labels.shape[0],) + tuple(self.generator.noise_shape))
    return self._generate(g_params, z, labels)
