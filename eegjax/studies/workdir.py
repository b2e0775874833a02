"""A run's working directory: its files, its log, and its safety rules: a finished run is
never silently overwritten (a rerun reports it is done), an unfinished one is resumed, and a
run started with other flags is refused with the differing flags listed.

Layout written by the runners:
  flags.cfg      the flags of the run, replayable with --flagfile
  config.json    the resolved configuration
  log.txt        progress lines (also printed)
  results.json   metrics per seed and fold, summaries, dataset provenance (deterministic)
  results.csv    one row per (seed, fold) and summary rows
  timing.json    wall times and latencies (kept apart so results compare byte for byte)
  history.npz    per-epoch training (and validation) loss of every model
  checkpoints/   orbax checkpoints (training blocks; pruning steps) a rerun resumes from
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from typing import Optional, Sequence

import numpy as np

from eegjax.errors import UserError


class WorkdirError(UserError, RuntimeError):
  """The workdir cannot be used as asked; the message says why and what to do."""


def to_json(obj):
  """JSON-ready copy: numpy to Python, non-finite floats to None."""
  if isinstance(obj, dict):
    return {str(k): to_json(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [to_json(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return to_json(obj.tolist())
  if isinstance(obj, (np.floating, float)):
    v = float(obj)
    return v if np.isfinite(v) else None
  if isinstance(obj, (np.integer,)):
    return int(obj)
  if isinstance(obj, (np.bool_,)):
    return bool(obj)
  return obj


class Workdir:
  def __init__(self, path: str, overwrite: bool = False, echo: bool = True):
    if not path:
      raise WorkdirError("--workdir is empty; expected a folder to write the run into")
    self.path = os.path.abspath(path)
    self.echo = echo
    # (dataset name, "real" | "synthetic"): once set, every CSV written names them in
    # two last columns, so no results file leaves its data's origin unsaid
    self.provenance: Optional[tuple[str, str]] = None
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise WorkdirError(f"--workdir={path} is a file; expected a folder")
    if overwrite and os.path.isdir(self.path):
      shutil.rmtree(self.path)
    os.makedirs(self.path, exist_ok=True)
    self._t0 = time.perf_counter()

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  @property
  def finished(self) -> bool:
    return os.path.exists(self.file("results.json"))

  @property
  def started(self) -> bool:
    """Holds results or checkpoints of a run (not just the flags of a failed start)."""
    ck = self.file("checkpoints")
    return self.finished or (os.path.isdir(ck) and any(os.scandir(ck)))

  def check_same_run(self, flagfile_text: str) -> None:
    """Refuses a started run whose flags.cfg differs from `flagfile_text`."""
    old_path = self.file("flags.cfg")
    if not self.started or not os.path.exists(old_path):
      return
    parse = lambda t: dict(line.split("=", 1) for line in t.splitlines()  # noqa: E731
                           if line.startswith("--") and "=" in line)
    with open(old_path, encoding="utf-8") as f:
      old = parse(f.read())
    new = parse(flagfile_text)
    diffs = [f"{k} (was {old.get(k, 'unset')!r}, now {new.get(k, 'unset')!r})"
             for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diffs:
      raise WorkdirError(f"--workdir={self.path} holds a run made with different flags: "
                         f"{'; '.join(diffs)}. Rerun with the same flags to resume it, pass "
                         "--overwrite to start afresh, or choose another --workdir")

  def read_json(self, name: str):
    with open(self.file(name), encoding="utf-8") as f:
      return json.load(f)

  def log(self, message: str) -> None:
    line = f"[{time.perf_counter() - self._t0:8.1f}s] {message}"
    if self.echo:
      print(line, flush=True)
    with open(self.file("log.txt"), "a", encoding="utf-8") as f:
      f.write(line + "\n")

  def write_text(self, name: str, text: str) -> None:
    tmp = self.file(name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)
    os.replace(tmp, self.file(name))  # atomic: a reader never sees half a file

  def write_json(self, name: str, obj) -> None:
    self.write_text(name, json.dumps(to_json(obj), indent=2, sort_keys=False) + "\n")

  def write_csv(self, name: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    tmp = self.file(name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
      w = csv.writer(f)
      extra = list(self.provenance) if self.provenance else []
      w.writerow(list(header) + (["dataset", "data"] if extra else []))
      for r in rows:
        w.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else v for v in r]
                   + extra)
    os.replace(tmp, self.file(name))

  def write_npz(self, name: str, **arrays) -> None:
    tmp = self.file(name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, self.file(name))
