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
  after_block(host state, epochs_done): runs after every block (image grids, best models).
  Long: the one training loop of every family -- resume, blocks, checkpoints, divergence and
  progress in order -- so each rule exists once."""
  seeds = [int(s) for s in seeds]
  n_f, n_s = len(np.asarray(folds.fold_id)), len(seeds)
  layout = sharding.plan(n_f, n_s, num_devices if family.vmapped else 1)
  prefix = f"{label}: " if label else ""
  if layout.mesh is not None:
    log(f"{prefix}models spread over {layout.describe()}")
  # With a checkpoint to resume from, the initial state is only the restore's template:
  # its shapes and dtypes are traced (jax.eval_shape), not compiled and run.
  fresh = lambda: family.init(seeds, folds, data, layout)  # noqa: E731
  template_only = state is None and checkpoints is not None and bool(checkpoints.steps())
  if state is None:
    state = jax.eval_shape(fresh) if template_only else fresh()
  history = {k: np.full((n_f, n_s, family.epochs), np.nan, np.float32)
             for k in family.history_keys}
  run_s, epoch = 0.0, start_epoch
  if checkpoints is not None:
    restored = checkpoints.restore_latest({"state": family.stored(state), **history})
    if restored is None and template_only:     # every checkpoint was unreadable
      state = fresh()
    if restored is not None:
      epoch, arrays, meta = restored
      run_s = float(meta.get("run_s", 0.0))
      state = family.restored(arrays["state"])
      history = {k: np.array(arrays[k], np.float32) for k in history}
      log(f"{prefix}resuming {'training' if not label else 'its training'} from the "
          f"checkpoint after epoch {epoch} of {family.epochs}")
  resumed_from = epoch if checkpoints is not None else 0
  every = checkpoint_every or family.block_epochs()

  def save(st, done):
    checkpoints.save(done, {"state": family.stored(st), **history},
                     {"epochs_done": done, "run_s": run_s})

  seeds_dev = layout.put_seeds(np.asarray(seeds, np.uint32))
  if layout.mesh is None:
    seeds_dev = jnp.asarray(seeds_dev, jnp.uint32)
  folds_dev, data_dev = layout.put_folds(folds), layout.put_shared(data)
  state_dev = layout.put_models(state)
  host = (lambda t: t) if layout.mesh is None else (
      lambda t: jax.tree.map(jnp.asarray, layout.get_models(t)))
  compiled: dict[int, Any] = {}
  compile_s, first_epoch, t_start = 0.0, epoch, time.perf_counter()
  block = family.block_epochs()
  try:
    while epoch < family.epochs:
      n = min(block, family.epochs - epoch)
      start = jnp.int32(epoch)
      if n not in compiled:
        fn = family.block(layout, n, folds)
        if hasattr(fn, "lower"):   # one jitted program: compiled here, timed apart
          t0 = time.perf_counter()
          fn = compile_fast(fn.lower(state_dev, start, seeds_dev, folds_dev, data_dev))
          compile_s += time.perf_counter() - t0
        compiled[n] = fn
      t0 = time.perf_counter()
      prev = state_dev
      state_dev, values, active = compiled[n](state_dev, start, seeds_dev, folds_dev, data_dev)
      values = {k: sharding.to_host(v)[:n_f, :n_s] for k, v in values.items()}
      active = sharding.to_host(active)[:n_f, :n_s]
      run_s += time.perf_counter() - t0
      loss = values[family.loss_key]
      bad = ~np.isfinite(loss) & active
      if bad.any():
        f, s, e = (int(i) for i in np.argwhere(bad)[0])
        raise TrainingDiverged(
            f"{prefix}non-finite training loss ({loss[f, s, e]}) at seed {seeds[s]}, fold "
            f"{int(np.asarray(folds.fold_id)[f])}, epoch {epoch + e + 1}; the last good "
            f"state is the one after epoch {epoch}", host(prev), epoch)
      # Epochs after early stopping changed nothing: NaN marks them in the history.
      for k, v in values.items():
        history[k][..., epoch:epoch + n] = np.where(active, v, np.nan)
      epoch += n
      elapsed = time.perf_counter() - t_start
      eta = (elapsed - compile_s) / max(epoch - first_epoch, 1) * (family.epochs - epoch)
      lines = family.progress({k: v[..., -1] for k, v in values.items()}, active[..., -1])
      for i, line in enumerate(lines):
        tail = f"  elapsed {elapsed:.1f}s  eta {eta:.1f}s" if i == len(lines) - 1 else ""
        log(f"{prefix}epoch {epoch}/{family.epochs}  {line}{tail}")
      if after_block is not None or checkpoints is not None:
        st = host(state_dev)
        if after_block is not None:
          after_block(st, epoch)
        if checkpoints is not None and (epoch % every == 0 or epoch == family.epochs):
          save(st, epoch)
  except TrainingDiverged as e:
    if checkpoints is None:
      raise
    steps = checkpoints.steps()
    checkpoints.close()
    kept = (f"the last good checkpoint (epoch {steps[-1]}) is kept in "
            f"{checkpoints.directory}" if steps else "no checkpoint had been written yet")
    raise TrainingDiverged(f"{e}; {kept}", e.state, e.epochs_done) from None
  if checkpoints is not None:
    checkpoints.close()
  return Run(state=host(state_dev), history=history, compile_s=compile_s, run_s=run_s,
             resumed_from=resumed_from)
