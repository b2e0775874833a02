"""Training checkpoints with orbax: the whole (folds, seeds) training state plus the
per-epoch loss histories, saved after blocks of epochs, restored on a rerun.

Saves are atomic (orbax writes a temporary folder and renames it), so a process killed
mid-save leaves the previous checkpoint intact. A checkpoint that exists but cannot be read
(truncated or corrupted files) is reported and the one before it is used; the last few are
kept for that reason.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

from eegjax.errors import UserError
from eegjax.jsonable import to_json


class Checkpoints:
  """A folder of numbered checkpoints, each an array pytree plus a JSON dict."""

  def __init__(self, directory: str, keep: Optional[int] = 3,
               log: Callable[[str], None] = print):
    """keep: how many of the newest to keep (None: all)."""
    self.directory = directory
    self.log = log
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    if jax.process_count() > 1:
      # Multi-host: every process holds the whole (gathered) state and writes its own
      # workdir (see studies/cli.py), so each one checkpoints alone.
      k = jax.process_index()
      os.makedirs(directory, exist_ok=True)
      options = ocp.CheckpointManagerOptions(
          max_to_keep=keep, create=False, enable_async_checkpointing=False,
          multiprocessing_options=ocp.options.
          MultiprocessingOptions(primary_host=k, active_processes={k}))
    self.manager = ocp.CheckpointManager(directory, options=options,
                                         item_names=("arrays", "meta"))
    self.save_seconds: list[float] = []
    self.pending: Optional[int] = None     # a checkpoint saved without waiting

  def save(self, step: int, arrays, meta: dict, wait: bool = True) -> None:
    """Saves `arrays` (a pytree) and `meta` (made JSON-ready: numpy to Python, non-finite
    floats to None) as checkpoint `step`. wait=False returns once the arrays are copied
    and leaves the writing to orbax's thread, which the next save or `close` waits for
    (a pruning sweep's checkpoints overlap the next variant's work: 0.3-0.5 s each on the
    main job's CPU); a failed write is reported there, by this checkpoint's number."""
    meta = to_json(meta)
    t0 = time.perf_counter()
    arrays = jax.tree.map(np.asarray, arrays)     # host copies: one layout on any device
    if self.pending is not None:                  # the last one's failure is its own
      self._written(self.pending, self.manager.wait_until_finished)

    def write():
      self.manager.save(step, args=ocp.args.Composite(
          arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)), force=True)
      if wait:
        self.manager.wait_until_finished()      # durable before the run goes on
    self._written(step, write)
    self.pending = None if wait else step
    self.save_seconds.append(time.perf_counter() - t0)

  def _written(self, step: int, write: Callable[[], None]) -> None:
    """Runs `write` (a save of checkpoint `step`, or the wait for it); a failure ends in
    one error that names the checkpoint, the cause and what is intact."""
    quiet = _OrbaxThreadErrors()
    logging.getLogger().addFilter(quiet)
    absl_handler = logging.getLogger("absl")
    absl_handler.addFilter(quiet)
    try:
      write()
    except Exception as e:  # noqa: BLE001 - tensorstore / orbax wrap the OS error
      from eegjax.run.workdir import DiskFull, disk_full
      try:
        self.manager.close()        # stop orbax's writer threads before the process ends
      except Exception:  # noqa: BLE001 - the save already failed; closing is best effort
        pass
      good = [s for s in self.steps() if s != step]
      kept = (f"the last good checkpoint ({good[-1]}) is intact" if good else
              "no checkpoint had been written there yet")
      if disk_full(e):
        raise DiskFull(f"no space left on the device while saving checkpoint {step} in "
                       f"{self.directory}; {kept}. Free some space and rerun the same "
                       "command: it resumes from there") from None
      raise CheckpointError(f"could not save checkpoint {step} in {self.directory} "
                            f"({_first_line(e)}); {kept}. Make the folder writable (or "
                            "choose another --workdir) and rerun the same command") from e
    finally:
      logging.getLogger().removeFilter(quiet)
      absl_handler.removeFilter(quiet)

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def delete(self, step: int) -> None:
    self.manager.delete(step)

  def restore(self, step: int, target=None) -> tuple[object, dict]:
    """(arrays, meta) of checkpoint `step`; arrays shaped like `target` when given (else
    as saved, nested dicts of arrays)."""
    out = self.manager.restore(step, args=ocp.args.Composite(
        arrays=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return out["arrays"], out["meta"]

  def restore_latest(self, target=None) -> Optional[tuple[int, object, dict]]:
    """(step, arrays, meta) of the newest readable checkpoint; None when there is none.
    Unreadable ones are reported and skipped."""
    for step in reversed(self.steps()):
      try:
        return (step, *self.restore(step, target))
      except Exception as e:  # noqa: BLE001 - any failure means this one is unusable
        self.log(f"checkpoint {step} in {self.directory} is unreadable ({_first_line(e)});"
                 " deleted, falling back to the previous one")
        # the run saves this step again when it gets there: a damaged folder left in
        # place would make that save fail (orbax: the step already exists)
        self.delete(step)
    return None

  def close(self) -> None:
    """Waits for a save still being written (see `save`), then stops orbax's threads."""
    if self.pending is not None:
      self._written(self.pending, self.manager.wait_until_finished)
      self.pending = None
    self.manager.wait_until_finished()
    self.manager.close()


class CheckpointError(UserError, OSError):
  """A checkpoint could not be written (other than a full disk); the message says which
  and what is intact."""


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0][:200] if text else type(e).__name__


class _OrbaxThreadErrors(logging.Filter):
  """Holds back the errors orbax's writer threads log while a save fails (a full disk or
  a read-only folder logs one traceback per thread): the failure ends in one line that
  names the checkpoint and the cause."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not (record.levelno >= logging.ERROR and "orbax" in record.pathname)


def median_save_ms(ckpt: Checkpoints) -> float:
  return float(np.median(ckpt.save_seconds) * 1e3) if ckpt.save_seconds else 0.0
