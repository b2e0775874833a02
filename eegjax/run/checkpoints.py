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

  def save(self, step: int, arrays, meta: dict) -> None:
    """Saves `arrays` (a pytree) and `meta` (made JSON-ready: numpy to Python, non-finite
    floats to None) as checkpoint `step`."""
    meta = to_json(meta)
    t0 = time.perf_counter()
    arrays = jax.tree.map(np.asarray, arrays)     # host copies: one layout on any device
    quiet = _OrbaxThreadErrors()
    logging.getLogger().addFilter(quiet)
    absl_handler = logging.getLogger("absl")
    absl_handler.addFilter(quiet)
    try:
      self.manager.save(step, args=ocp.args.Composite(
          arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)), force=True)
      self.manager.wait_until_finished()      # durable before the run goes on
    except Exception as e:  # noqa: BLE001 - tensorstore / orbax wrap the OS error
      from eegjax.run.workdir import DiskFull, disk_full
      if not disk_full(e):
        quiet.replay()
        raise
      try:
        self.manager.close()        # stop orbax's writer threads before the process ends
      except Exception:  # noqa: BLE001 - the save already failed; closing is best effort
        pass
      good = [s for s in self.steps() if s != step]
      kept = (f"the last good checkpoint ({good[-1]}) is intact" if good else
              "no checkpoint had been written there yet")
      raise DiskFull(f"no space left on the device while saving checkpoint {step} in "
                     f"{self.directory}; {kept}. Free some space and rerun the same "
                     "command: it resumes from there") from None
    finally:
      logging.getLogger().removeFilter(quiet)
      absl_handler.removeFilter(quiet)
    self.save_seconds.append(time.perf_counter() - t0)

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
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        self.log(f"checkpoint {step} in {self.directory} is unreadable ({first}); "
                 "falling back to the previous one")
    return None

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


class _OrbaxThreadErrors(logging.Filter):
  """Holds back the errors orbax's writer threads log while a save fails (a full disk
  logs one traceback per thread); they are shown when the failure is not a full disk."""

  def __init__(self):
    super().__init__()
    self.held: list[logging.LogRecord] = []

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR and "orbax" in record.pathname:
      self.held.append(record)
      return False
    return True

  def replay(self) -> None:
    for record in self.held:
      logging.getLogger(record.name).handle(record)


def median_save_ms(ckpt: Checkpoints) -> float:
  return float(np.median(ckpt.save_seconds) * 1e3) if ckpt.save_seconds else 0.0
