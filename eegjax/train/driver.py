"""The one training driver: every model family (classifiers, the autoencoder, the GANs)
trains through `train`, which owns what does not depend on the model:

  * the layout of the (fold, seed) models over devices (`eegjax.train.sharding`);
  * blocks of epochs, each one compiled call (compiled once per block length);
  * checkpoints after blocks and resumption from the newest readable one;
  * divergence: a non-finite training loss stops the run naming seed, fold and epoch, with
    the state of the last good block kept (and the last checkpoint left as it was);
  * progress lines with an ETA, and the per-epoch histories.

A model family supplies only what differs (the `Family` protocol): its initialisation,
its block of epochs (per-batch updates, evaluation, best-epoch bookkeeping) and how its
state is stored. `eegjax.train.fit.Trainer` is the classifier / autoencoder family,
`eegjax.train.gan_fit.GanTrainer` the GAN family.

Randomness: every family derives its keys from `model_key(seed, fold)` =
`fold_in(key(seed), fold)`, so one (seed, fold) model can be re-run alone and a run split
into blocks or resumed draws the same keys as one uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import UserError
from eegjax.train import sharding
from eegjax.train.folds import FoldArrays


def model_key(seed, fold) -> jax.Array:
  """The key every random draw of model (seed, fold) derives from."""
  return jax.random.fold_in(jax.random.key(seed), fold)


class TrainingDiverged(UserError, RuntimeError):
  """A loss became NaN or inf; the message names seed, fold and epoch."""

  def __init__(self, message: str, state, epochs_done: int):
    super().__init__(message)
    self.state = state              # the last good state (end of the previous block)
    self.epochs_done = epochs_done


class Family(Protocol):
  """What a model family gives the driver."""
  epochs: int                 # epochs in all
  history_keys: tuple         # per-epoch values its blocks return, each (F, S, n)
  loss_key: str               # the history watched for divergence
  vmapped: bool               # its blocks run every model in one vmapped program, so the
                              # driver may lay the models over devices

  def block_epochs(self) -> int: ...
  def init(self, seeds, folds: FoldArrays, data, layout) -> Any: ...
  def block(self, layout, n: int, folds: FoldArrays) -> Callable: ...
  def stored(self, state) -> Any: ...
  def restored(self, state) -> Any: ...
  def progress(self, last: dict, live: np.ndarray) -> list[str]: ...


@dataclasses.dataclass
class Run:
  state: Any                   # host arrays shaped (folds, seeds, ...)
  history: dict                # key -> (folds, seeds, epochs), NaN where not trained
  compile_s: float             # this process's compile time
  run_s: float                 # training time of the whole run (resumed runs included)
  resumed_from: int = 0        # epochs restored from a checkpoint


def compile_fast(lowered):
  """`lowered.compile()`, with CPU_COMPILER_OPTIONS on CPU where this jaxlib has them."""
  if jax.devices()[0].platform == "cpu":
    try:
      return lowered.compile(compiler_options=CPU_COMPILER_OPTIONS)
    except Exception as e:  # noqa: BLE001 - an unknown option is an INVALID_ARGUMENT
      if "INVALID_ARGUMENT" not in str(e):
        raise
  return lowered.compile()


# XLA CPU: hand each matmul to the YNNPACK library on its own (not fused with neighbouring
# ops). Measured on a 2-core CPU: MLP sweep 10% and RNN epoch 13% faster. An experimental
# option: when a jaxlib does not know it, compilation goes on without it.
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def train(family: Family, seeds, folds: FoldArrays, data, *, num_devices: int = 1,
          state=None, start_epoch: int = 0, checkpoints=None, checkpoint_every: int = 0,
          log: Callable[[str], None] = print, label: str = "",
          after_block: Optional[Callable[[Any, int], None]] = None) -> Run:
  """Trains every (fold, seed) model of `family` up to family.epochs.

  state / start_epoch: where to start (default: the family's initialisation, epoch 0), e.g.
  a pruned network to fine-tune or a classifier with a pretrained encoder.
  checkpoints: an `eegjax.run.checkpoints.Checkpoints`; the run resumes from its newest
  readable checkpoint and saves one every `checkpoint_every` epochs (0: after every block)
  and at the end. label: the run's name in log lines ("" for the study's classifier).
  after_block(host state, epochs_done): runs after every block (image grids, best models)."""
  seeds = [int(s) for s in seeds]
  n_f, n_s = len(np.asarray(folds.fold_id)), len(seeds)
  layout = sharding.plan(n_f, n_s, num_devices if family.vmapped else 1)
  prefix = f"{label}: " if label else ""
  if layout.mesh is not None:
    log(f"{prefix}models spread over {layout.describe()}")
  start = _start(family, seeds, folds, data, layout, state, start_epoch, checkpoints,
                 log, label)
  placed = _Placed(layout, seeds, folds, data, start.state)
  every = checkpoint_every or family.block_epochs()
  epoch, run_s, compile_s = start.epoch, start.run_s, 0.0
  history, t_start = start.history, time.perf_counter()
  try:
    while epoch < family.epochs:
      n = min(family.block_epochs(), family.epochs - epoch)
      compile_s += placed.compile(family, n, folds, epoch)
      t0 = time.perf_counter()
      prev = placed.state
      values, active = placed.run(n, epoch, n_f, n_s)
      run_s += time.perf_counter() - t0
      _check_finite(values[family.loss_key], active, seeds, folds, epoch, prefix,
                    lambda: placed.host(prev))
      # Epochs after early stopping changed nothing: NaN marks them in the history.
      for k, v in values.items():
        history[k][..., epoch:epoch + n] = np.where(active, v, np.nan)
      epoch += n
      _log_progress(family, values, active, epoch, start.epoch, t_start, compile_s,
                    log, prefix)
      if after_block is not None or checkpoints is not None:
        st = placed.host(placed.state)
        if after_block is not None:
          after_block(st, epoch)
        if checkpoints is not None and (epoch % every == 0 or epoch == family.epochs):
          checkpoints.save(epoch, {"state": family.stored(st), **history},
                           {"epochs_done": epoch, "run_s": run_s})
  except TrainingDiverged as e:
    if checkpoints is None:
      raise
    raise _with_checkpoint_kept(e, checkpoints) from None
  if checkpoints is not None:
    checkpoints.close()
  return Run(state=placed.host(placed.state), history=history, compile_s=compile_s,
             run_s=run_s, resumed_from=start.epoch if checkpoints is not None else 0)


@dataclasses.dataclass
class _Start:
  state: Any                   # host state to train from
  history: dict                # key -> (folds, seeds, epochs), NaN where not trained
  epoch: int                   # epochs already done
  run_s: float                 # training seconds already spent (restored runs)


def _start(family, seeds, folds, data, layout, state, start_epoch, checkpoints, log,
           label) -> _Start:
  """Where the run starts: the newest readable checkpoint, else `state` at start_epoch,
  else the family's initialisation at epoch 0."""
  n_f, n_s = len(np.asarray(folds.fold_id)), len(seeds)
  # With a checkpoint to resume from, the initial state is only the restore's template:
  # its shapes and dtypes are traced (jax.eval_shape), not compiled and run.
  fresh = lambda: family.init(seeds, folds, data, layout)  # noqa: E731
  template_only = state is None and checkpoints is not None and bool(checkpoints.steps())
  if state is None:
    state = jax.eval_shape(fresh) if template_only else fresh()
  history = {k: np.full((n_f, n_s, family.epochs), np.nan, np.float32)
             for k in family.history_keys}
  if checkpoints is None:
    return _Start(state, history, start_epoch, 0.0)
  restored = checkpoints.restore_latest({"state": family.stored(state), **history})
  if restored is None:
    return _Start(fresh() if template_only else state, history, start_epoch, 0.0)
  epoch, arrays, meta = restored
  prefix = f"{label}: " if label else ""
  log(f"{prefix}resuming {'training' if not label else 'its training'} from the "
      f"checkpoint after epoch {epoch} of {family.epochs}")
  return _Start(family.restored(arrays["state"]),
                {k: np.array(arrays[k], np.float32) for k in history}, epoch,
                float(meta.get("run_s", 0.0)))


class _Placed:
  """The run's arrays on its devices, and its compiled blocks (one per block length)."""

  def __init__(self, layout, seeds, folds, data, state):
    self.layout = layout
    seeds_dev = layout.put_seeds(np.asarray(seeds, np.uint32))
    if layout.mesh is None:
      seeds_dev = jnp.asarray(seeds_dev, jnp.uint32)
    self.args = (seeds_dev, layout.put_folds(folds), layout.put_shared(data))
    self.state = layout.put_models(state)
    self.compiled: dict[int, Any] = {}

  def host(self, tree):
    if self.layout.mesh is None:
      return tree
    return jax.tree.map(jnp.asarray, self.layout.get_models(tree))

  def compile(self, family, n: int, folds, epoch: int) -> float:
    """Compiles the block of n epochs if it is new; returns the seconds spent."""
    if n in self.compiled:
      return 0.0
    fn = family.block(self.layout, n, folds)
    spent = 0.0
    if hasattr(fn, "lower"):   # one jitted program: compiled here, timed apart
      t0 = time.perf_counter()
      fn = compile_fast(fn.lower(self.state, jnp.int32(epoch), *self.args))
      spent = time.perf_counter() - t0
    self.compiled[n] = fn
    return spent

  def run(self, n: int, epoch: int, n_f: int, n_s: int):
    """Runs n epochs from `epoch`; returns per-epoch values and the live mask on the host."""
    self.state, values, active = self.compiled[n](self.state, jnp.int32(epoch), *self.args)
    values = {k: sharding.to_host(v)[:n_f, :n_s] for k, v in values.items()}
    return values, sharding.to_host(active)[:n_f, :n_s]


def _check_finite(loss, active, seeds, folds, epoch, prefix, last_good):
  """Raises TrainingDiverged naming the first live model whose training loss is not finite."""
  bad = ~np.isfinite(loss) & active
  if bad.any():
    f, s, e = (int(i) for i in np.argwhere(bad)[0])
    raise TrainingDiverged(
        f"{prefix}non-finite training loss ({loss[f, s, e]}) at seed {seeds[s]}, fold "
        f"{int(np.asarray(folds.fold_id)[f])}, epoch {epoch + e + 1}; the last good "
        f"state is the one after epoch {epoch}", last_good(), epoch)


def _log_progress(family, values, active, epoch, first_epoch, t_start, compile_s, log,
                  prefix):
  elapsed = time.perf_counter() - t_start
  eta = (elapsed - compile_s) / max(epoch - first_epoch, 1) * (family.epochs - epoch)
  lines = family.progress({k: v[..., -1] for k, v in values.items()}, active[..., -1])
  for i, line in enumerate(lines):
    tail = f"  elapsed {elapsed:.1f}s  eta {eta:.1f}s" if i == len(lines) - 1 else ""
    log(f"{prefix}epoch {epoch}/{family.epochs}  {line}{tail}")


def _with_checkpoint_kept(e: TrainingDiverged, checkpoints) -> TrainingDiverged:
  """The divergence error, saying which checkpoint is kept (and closing the checkpoints)."""
  steps = checkpoints.steps()
  checkpoints.close()
  kept = (f"the last good checkpoint (epoch {steps[-1]}) is kept in "
          f"{checkpoints.directory}" if steps else "no checkpoint had been written yet")
  return TrainingDiverged(f"{e}; {kept}", e.state, e.epochs_done)
