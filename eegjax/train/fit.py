"""One training program for every model: Adam + cross-entropy on minibatches, epochs in
`lax.scan`, vmapped over folds x seeds, so a whole k-fold, multi-seed study is one compiled
function.

Folds have different sizes, so each fold's index lists are padded to a common length and
carry weights (1 = real example, 0 = padding); see `eegjax.train.folds`. Every epoch the real
training indices are shuffled by sorting random keys (padding sorts last), cut into batches
of `batch_size` (`shuffle_order`), and a batch holding no real example changes nothing (parameters and Adam
state alike). Min-max statistics of the fold's training rows are applied after each gather.

Randomness: the model key is `fold_in(key(seed), fold)`; initialisation uses
`fold_in(model_key, 0)`, the shuffle of epoch e `fold_in(fold_in(model_key, 1), e)`, and
the dropout of its batch b (models that `trains_in_mode`: BatchNorm, dropout)
`fold_in(fold_in(fold_in(model_key, 2), e), b)`. A run
split into blocks of epochs (for logs, checkpoints, resumption) draws the same keys as one
uninterrupted run.

The program runs in blocks of `epochs_per_call` epochs (one compiled function, called
repeatedly by the training driver, `eegjax.train.driver`, which logs progress, checkpoints
and stops at the first non-finite loss); `Trainer` is the driver's classifier family.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eegjax.arrays import take
from eegjax.evaluate.metrics import classification_metrics
from eegjax.train import driver, sharding
from eegjax.train.config import TrainConfig, objective_loss, reconstruction_mse
from eegjax.train.folds import FoldArrays, scale_rows
from eegjax.train.step import _forward, _select, shuffle_order, train_step, trains_in_mode

_INIT, _SHUFFLE, _DROPOUT = 0, 1, 2
FRESH_INIT = 3      # init_tag of a network trained from scratch beside the study's own
TrainingDiverged = driver.TrainingDiverged   # where callers have imported it from


class TrainState(NamedTuple):
  params: Any
  opt_state: Any
  best_params: Any        # best on validation (= params when there is no validation part)
  best_val: jax.Array     # best validation loss so far (inf before the first epoch)
  best_epoch: jax.Array   # epoch (0-based) of best_params; -1 before any
  stopped: jax.Array      # early stopping triggered: further epochs change nothing


@dataclasses.dataclass
class FitResult:
  state: TrainState               # leaves shaped (folds, seeds, ...)
  train_loss: np.ndarray          # (folds, seeds, epochs) mean training loss per epoch
  val_loss: Optional[np.ndarray]  # same, or None without a validation part
  compile_s: float
  run_s: float

  @property
  def params(self):
    """Final parameters: best on validation when there was a validation part."""
    return self.state.best_params


def _gather(data, idx, norm):
  """Rows `idx` of data; scaled with `norm` = (lo, scale), or already scaled (None)."""
  if norm is None:
    x, y, lengths = data
    return x[idx], y[idx], None if lengths is None else lengths[idx]
  return scale_rows(data, idx, *norm)


def _scaled(data, folds: FoldArrays):
  """All rows min-max scaled with one fold's training statistics: done once per block,
  so the epochs only gather (no per-epoch arithmetic on the inputs)."""
  return scale_rows(data, None, folds.lo, folds.scale)


def predict_logits(model, params, data, norm, idx, chunk: int, unrolled: bool = False):
  """Logits for rows `idx` (any length), computed at most `chunk` rows at a time (in a
  loop, or one after another in the program when `unrolled`)."""
  n = idx.shape[0]
  chunk = min(chunk, n)
  pad = (-n) % chunk
  idx_p = jnp.concatenate([idx, jnp.zeros((pad,), idx.dtype)]).reshape(-1, chunk)

  def one(ix):
    xb, _, lb = _gather(data, ix, norm)
    return _forward(model, params, xb, lb)

  if unrolled:
    out = jnp.stack([one(idx_p[i]) for i in range(idx_p.shape[0])])
  else:
    out = jax.lax.map(one, idx_p)
  return out.reshape(n + pad, -1)[:n]


def _make_programs(model, tx, cfg: TrainConfig, has_val: bool, unrolled: bool = False,
                   init_tag: int = _INIT):
  """Builds the per-model init / epoch / block / evaluate functions (not yet vmapped).
  `unrolled`: an epoch's batches (and evaluation chunks) one after another in the program
  rather than in a loop (the "loop" layout's convolutions; see `Trainer`). `init_tag`: the
  stream of the initialisation's key, fold_in(model_key, init_tag)."""
  in_mode = trains_in_mode(model)

  def init_one(seed, folds: FoldArrays, data):
    fold = folds.fold_id
    key = jax.random.fold_in(driver.model_key(seed, fold), init_tag)
    xb, _, lb = _gather(data, folds.train_idx[:1], (folds.lo, folds.scale))
    params = (model.init(key, xb) if lb is None else model.init(key, xb, lengths=lb))
    return TrainState(params=params, opt_state=tx.init(params), best_params=params,
                      best_val=jnp.array(jnp.inf, jnp.float32),
                      best_epoch=jnp.array(-1, jnp.int32), stopped=jnp.array(False))

  def epoch_one(state: TrainState, epoch, seed, folds: FoldArrays, data, empty_batches):
    model_key = driver.model_key(seed, folds.fold_id)
    # `data` holds this fold's scaled rows (see block_all): no normalisation here.
    xs, ys, ls, ws = _epoch_batches(model_key, epoch, folds, data, cfg.batch_size)
    drop_key = jax.random.fold_in(jax.random.fold_in(model_key, _DROPOUT), epoch)

    def batch(carry, inputs):
      params, opt_state = carry
      xb, yb, lb, bw, b = inputs
      rng = jax.random.fold_in(drop_key, b) if in_mode else None
      params, opt_state, loss = train_step(model, tx, params, opt_state, xb, yb, bw, lb,
                                           may_be_empty=empty_batches,
                                           objective=cfg.objective, rng=rng)
      return (params, opt_state), (loss * bw.sum(), bw.sum())

    n_batches = ws.shape[0]
    (params, opt_state), (losses, counts) = jax.lax.scan(
        batch, (state.params, state.opt_state), (xs, ys, ls, ws, jnp.arange(n_batches)),
        unroll=n_batches if unrolled else 1)
    train_loss = losses.sum() / jnp.maximum(counts.sum(), 1.0)
    # A stopped model (early stopping) keeps its state: one select per epoch.
    params = _select(state.stopped, state.params, params)
    opt_state = _select(state.stopped, state.opt_state, opt_state)
    if has_val:
      logits = predict_logits(model, params, data, None, folds.val_idx, cfg.eval_batch_size,
                              unrolled)
      val_loss = objective_loss(cfg.objective, logits, data[0][folds.val_idx],
                                data[1][folds.val_idx], folds.val_w)
      new = _keep_best(state, params, opt_state, val_loss, epoch, cfg.patience)
    else:
      val_loss = jnp.array(jnp.nan, jnp.float32)
      new = TrainState(params, opt_state, params, state.best_val,
                       jnp.asarray(epoch).astype(jnp.int32), state.stopped)
    return new, (train_loss, val_loss, ~state.stopped)

  def block_one(state, start, n_epochs, seed, folds, data, empty_batches):
    def body(s, e):
      return epoch_one(s, e, seed, folds, data, empty_batches)
    return jax.lax.scan(body, state, start + jnp.arange(n_epochs))

  evaluate_one = functools.partial(_evaluate_one, model, cfg, unrolled)
  return init_one, epoch_one, block_one, evaluate_one


def _evaluate_one(model, cfg: TrainConfig, unrolled: bool, params, folds: FoldArrays, data,
                  which: str, predictions: bool = False):
  """One model's metrics on its `which` rows ("train", "val", "test"); with `predictions`,
  each row's predicted class too (-1 on padding)."""
  idx, w = getattr(folds, f"{which}_idx"), getattr(folds, f"{which}_w")
  logits = predict_logits(model, params, data, (folds.lo, folds.scale), idx,
                          cfg.eval_batch_size, unrolled)
  if cfg.objective == "reconstruct":
    x = _gather(data, idx, (folds.lo, folds.scale))[0]
    return {"loss": reconstruction_mse(logits, x, w)}
  out = classification_metrics(logits, data[1][idx], w)
  if predictions:
    out["predicted"] = jnp.where(w, jnp.argmax(logits, -1), -1).astype(jnp.int32)
  return out


def _epoch_batches(model_key, epoch, folds: FoldArrays, data, batch_size: int):
  """One epoch's shuffled training batches, gathered at once outside the step loop:
  inputs, labels, lengths and weights, each (n_batches, batch_size, ...); the padding
  that fills the last batch has weight 0."""
  n_tr = folds.train_idx.shape[0]
  n_batches = math.ceil(n_tr / batch_size)
  key = jax.random.fold_in(jax.random.fold_in(model_key, _SHUFFLE), epoch)
  order = shuffle_order(key, folds.train_w)
  pad = n_batches * batch_size - n_tr
  idx = jnp.concatenate([folds.train_idx[order], jnp.zeros((pad,), jnp.int32)])
  w = jnp.concatenate([folds.train_w[order].astype(jnp.float32), jnp.zeros((pad,))])
  xs, ys, ls = _gather(data, idx.reshape(n_batches, batch_size), None)
  return xs, ys, ls, w.reshape(n_batches, batch_size)


def _keep_best(state: TrainState, params, opt_state, val_loss, epoch,
               patience: int) -> TrainState:
  """The state after an epoch with a validation loss: the best parameters so far kept,
  and early stopping after `patience` epochs without improvement (0: never)."""
  improved = (val_loss < state.best_val) & ~state.stopped
  best_params = jax.tree.map(lambda n, o: jnp.where(improved, n, o), params,
                             state.best_params)
  best_val = jnp.where(improved, val_loss, state.best_val)
  best_epoch = jnp.where(improved, epoch, state.best_epoch)
  stopped = state.stopped
  if patience:
    stopped = stopped | (epoch - best_epoch >= patience)
  return TrainState(params, opt_state, best_params, best_val, best_epoch.astype(jnp.int32),
                    stopped)


def may_have_empty_batches(folds: FoldArrays, batch_size: int) -> bool:
  """Whether some fold's shuffled, padded training indices leave a batch with no real
  example (padding sorts last, so only when a fold has fewer real rows than fill all but
  the last batch). Decided on the host, so the step loop carries no check otherwise."""
  real = np.asarray(folds.train_w).sum(axis=1)
  n_batches = math.ceil(np.asarray(folds.train_w).shape[1] / batch_size)
  return bool((real <= (n_batches - 1) * batch_size).any())


def _pick_block(epochs: int, requested: int) -> int:
  if requested:
    return min(requested, epochs)
  target = max(1, math.ceil(epochs / 10))
  for b in range(target, min(epochs, 2 * target) + 1):  # prefer a divisor: one program
    if epochs % b == 0:
      return b
  return target


LAYOUTS = ("vmap", "loop")


def default_layout(model: nn.Module) -> str:
  """"loop" for a convolutional model (`model.convolutional`) on CPU, else "vmap"."""
  conv = getattr(model, "convolutional", False)
  return "loop" if conv and jax.devices()[0].platform == "cpu" else "vmap"


class Trainer:
  """The classifier / autoencoder family of the training driver (`eegjax.train.driver`):
  its programs are compiled once for a model, optimiser and fold layout."""

  history_keys = ("train_loss", "val_loss")
  loss_key = "train_loss"

  def __init__(self, model: nn.Module, cfg: TrainConfig, has_val: bool, num_devices: int = 1,
               layout: str = "auto", init_tag: int = _INIT):
    """`num_devices` > 1 spreads the (folds, seeds) models over that many of
    `jax.devices()` (see `eegjax.train.sharding`); results do not depend on it.

    `layout`: "vmap" trains every (fold, seed) model side by side in one compiled block of
    epochs (epochs and batches in lax.scan); "loop" trains model after model, one
    compiled epoch at a time with its batches unrolled. XLA's CPU backend runs
    convolutions vmapped (grouped, one group per model) or inside a loop several times
    slower (2-core CPU, ShallowConvNet on 9 batches of scp1: 16 s in lax.scan, 2.2 s
    unrolled), so "auto" is `default_layout`: loop for conv nets on CPU. The loop layout
    runs on one device; both draw the same keys.

    `init_tag`: the key stream of `init` (module docstring: 0). Another one gives every
    (fold, seed) model an initialisation independent of the study's trained network's, as
    a network "trained from scratch" beside it needs (`FRESH_INIT`)."""
    self.model, self.cfg, self.has_val = model, cfg, has_val
    self.epochs = cfg.epochs
    self.num_devices = num_devices
    self.layout = default_layout(model) if layout == "auto" else layout
    if self.layout not in LAYOUTS:
      raise ValueError(f"layout {layout!r}: expected one of {LAYOUTS} or auto")
    self.vmapped = self.layout == "vmap"
    self.tx = cfg.optimizer()
    init_one, epoch_one, block_one, evaluate_one = _make_programs(
        model, self.tx, cfg, has_val, unrolled=not self.vmapped, init_tag=init_tag)
    self._epoch_one = jax.jit(epoch_one, static_argnames=("empty_batches",))
    self._scaled_one = jax.jit(_scaled)
    self._evaluate_one = jax.jit(evaluate_one, static_argnames=("which", "predictions"))

    # axes: seeds inner, folds outer. FoldArrays map over folds only; data (x, y,
    # lengths) is shared by every model.
    def init_all(seeds, folds, data):
      per_seed = jax.vmap(init_one, in_axes=(0, None, None))
      return jax.vmap(per_seed, in_axes=(None, 0, None))(seeds, folds, data)

    def block_all(state, start, seeds, folds, data, n_epochs, empty_batches):
      def per_fold(st, fa):
        d = _scaled(data, fa)   # one scaled copy per fold, shared by its seeds
        return jax.vmap(lambda s, sd: block_one(s, start, n_epochs, sd, fa, d,
                                                empty_batches))(st, seeds)
      state, (tl, vl, active) = jax.vmap(per_fold)(state, folds)
      return state, {"train_loss": tl, "val_loss": vl}, active

    def evaluate_all(params, folds, data, which, predictions=False):
      per_seed = jax.vmap(lambda p, fa, d: evaluate_one(p, fa, d, which, predictions),
                          in_axes=(0, None, None))
      return jax.vmap(per_seed, in_axes=(0, 0, None))(params, folds, data)

    self._init = jax.jit(init_all)
    self._block_all = block_all
    self._blocks: dict = {}
    self._evaluate = jax.jit(evaluate_all, static_argnames=("which", "predictions"))

  # -- the driver's Family protocol ----------------------------------------------------
  def block_epochs(self) -> int:
    return _pick_block(self.cfg.epochs, self.cfg.epochs_per_call)

  def init(self, seeds, folds: FoldArrays, data, layout=None) -> TrainState:
    return self._init(jnp.asarray(seeds, jnp.uint32), folds, data)

  def block(self, layout, n: int, folds: FoldArrays):
    """The jitted block of n epochs for every model (compiled by the driver). No buffer
    donation: the state before a block must survive a diverged block."""
    empty = may_have_empty_batches(folds, self.cfg.batch_size)
    if not self.vmapped:
      return functools.partial(self._loop_block, n=n, empty_batches=empty)
    key = (layout, n, empty)
    if key not in self._blocks:
      fn = functools.partial(self._block_all, n_epochs=n, empty_batches=empty)
      self._blocks[key] = (jax.jit(fn) if layout.mesh is None else
                           jax.jit(fn, out_shardings=layout.models))
    return self._blocks[key]

  def _loop_block(self, state, start, seeds, folds: FoldArrays, data, n: int,
                  empty_batches: bool):
    """The loop layout's block: for each (fold, seed) model, n epochs, each one compiled
    call; returns what the vmapped block does ((F, S, ...) state, histories, active)."""
    n_f, n_s = len(np.asarray(folds.fold_id)), len(seeds)
    outs = []
    for f in range(n_f):
      fa = take(folds, f)
      d = self._scaled_one(data, fa)
      for s in range(n_s):
        st, per_epoch = take(state, f, s), []
        for e in range(n):
          st, out = self._epoch_one(st, start + e, seeds[s], fa, d,
                                    empty_batches=empty_batches)
          per_epoch.append(out)
        outs.append((st, jax.tree.map(lambda *a: jnp.stack(a), *per_epoch)))
    state = sharding.stack_models([o[0] for o in outs], n_f, n_s)
    tl, vl, active = sharding.stack_models([o[1] for o in outs], n_f, n_s)
    return state, {"train_loss": tl, "val_loss": vl}, active

  def stored(self, state: TrainState) -> TrainState:
    # without a validation part the best params are the params: not saved twice
    return state if self.has_val else state._replace(best_params=None)

  def restored(self, state: TrainState) -> TrainState:
    return state if self.has_val else state._replace(best_params=state.params)

  def progress(self, last: dict, live: np.ndarray) -> list[str]:
    tl, vl = last["train_loss"], last["val_loss"]
    msg = (f"training {int(live.sum())}/{live.size} models"
           f"  train loss {tl[live].mean() if live.any() else float('nan'):.4f}")
    if self.has_val and live.any():
      msg += f"  val loss {vl[live].mean():.4f}"
    return [msg]

  # -- use -------------------------------------------------------------------------------
  def start_from(self, params) -> TrainState:
    """A training state around given (folds, seeds, ...) params, e.g. a pruned network to
    fine-tune. Adam's moments are re-initialised (explicitly: a pruned network's shapes
    no longer match the old ones, and its loss surface has changed)."""
    def one(p):
      return TrainState(params=p, opt_state=self.tx.init(p), best_params=p,
                        best_val=jnp.array(jnp.inf, jnp.float32),
                        best_epoch=jnp.array(-1, jnp.int32), stopped=jnp.array(False))
    return jax.jit(jax.vmap(jax.vmap(one)))(params)

  def fit(self, seeds, folds: FoldArrays, data, *, state: Optional[TrainState] = None,
          start_epoch: int = 0, log: Callable[[str], None] = print, checkpoints=None,
          label: str = "") -> FitResult:
    """Trains every (fold, seed) model for cfg.epochs epochs through the driver (see
    `driver.train` for state, start_epoch, checkpoints and label)."""
    run = driver.train(self, seeds, folds, data, num_devices=self.num_devices, state=state,
                       start_epoch=start_epoch, checkpoints=checkpoints, log=log,
                       label=label)
    return FitResult(state=run.state, train_loss=run.history["train_loss"],
                     val_loss=run.history["val_loss"] if self.has_val else None,
                     compile_s=run.compile_s, run_s=run.run_s)

  def evaluate(self, params, folds: FoldArrays, data, which: str = "test",
               predictions: bool = False) -> dict:
    """Metrics of every (fold, seed) model on its `which` part (test, val or train), as
    numpy arrays shaped (folds, seeds, ...); the models spread over the trainer's devices.
    `predictions`: also "predicted", each row's predicted class (folds, seeds, rows),
    -1 on the part's padding (rows as in folds.<which>_idx)."""
    if not self.vmapped:
      n_f, n_s = np.asarray(jax.tree.leaves(params)[0]).shape[:2]
      outs = [self._evaluate_one(take(params, f, s), take(folds, f), data, which=which,
                                 predictions=predictions)
              for f in range(n_f) for s in range(n_s)]
      return jax.tree.map(np.asarray, sharding.stack_models(outs, n_f, n_s))
    layout = sharding.plan(len(np.asarray(folds.fold_id)),
                           jax.tree.leaves(params)[0].shape[1], self.num_devices)
    return layout.call(functools.partial(self._evaluate, which=which,
                                         predictions=predictions), (params, folds, data),
                       "mfs")
