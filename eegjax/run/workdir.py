"""A run's working directory: its files, its log, and its safety rules: a finished run is
never silently overwritten (a rerun reports it is done), an unfinished one is resumed, a
run started with other settings is refused with the differing settings listed (its
config.json is the run's identity: `eegjax.run.identity`), and a workdir that
another process is using is refused at once, naming that process (`.lock`, an flock held
for the process's lifetime: a killed process leaves no stale lock). Where the workdir lives
is not part of a run's identity: a moved or renamed workdir resumes. Files are written
whole or not at all (write, flush to disk, rename); a results.json that cannot be read
(a copy cut short) is set aside and the run redone from its checkpoints.

Layout written by the runners:
  config.json    the resolved configuration: the run's identity (eegjax.run.identity)
  flags.cfg      the flags of the run, replayable with --flagfile (not checked)
  log.txt        progress lines (also printed)
  results.json   metrics per seed and fold, summaries, dataset provenance (deterministic)
  results.csv    one row per (seed, fold) and summary rows
  timing.json    wall times and latencies (kept apart so results compare byte for byte)
  history.npz    per-epoch training (and validation) loss of every model
  checkpoints/   orbax checkpoints (training blocks; pruning steps) a rerun resumes from
"""

from __future__ import annotations

import csv
import errno
import io
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from typing import Optional, Sequence

import numpy as np

from eegjax.jsonable import to_json  # noqa: F401  (studies import it from here)

from eegjax.errors import UserError
from eegjax.run import identity
from eegjax.run.identity import Identity


class WorkdirError(UserError, RuntimeError):
  """The workdir cannot be used as asked; the message says why and what to do."""


class DiskFull(UserError, OSError):
  """No space left where the run writes; the message says what is intact."""


LOCK = ".lock"
# present from the moment results.json is written until the run's last results file is:
# a run stopped in between is not finished, and a rerun writes them all again
PENDING = ".results_pending"
# the top-level names a run asked of its workdir (`Workdir.file`): what --overwrite removes
MANIFEST = ".files"
# what every run makes, for workdirs written before the manifest existed
RUN_FILES = ("flags.cfg", "config.json", "log.txt", "results.json", "results.json.damaged",
             "results.csv", "timing.json", "history.npz", "predictions.npz", "checkpoints",
             PENDING, MANIFEST)
_TEMPORARY = (".tmp", ".tmp.npz")    # a file being written (renamed when whole)
_held: dict[tuple, int] = {}    # (device, inode) of a lock file -> fd: locks this process
                                # holds (for its lifetime; a moved workdir keeps its lock)
active: Optional["Workdir"] = None   # the workdir of the run in progress (for Ctrl-C)


def _lock(path: str) -> None:
  """Takes the workdir's lock for this process, or refuses naming the holder."""
  fd = os.open(os.path.join(path, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
  st = os.fstat(fd)
  if (st.st_dev, st.st_ino) in _held:
    os.close(fd)          # this process holds it already (an earlier run of this session)
    return
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    os.close(fd)
    if e.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
      return               # a file system without locks: go on unguarded
    try:
      with open(os.path.join(path, LOCK), encoding="utf-8") as f:
        holder = f.read().strip() or "another process"
    except OSError:
      holder = "another process"
    raise WorkdirError(f"--workdir={path} is in use by {holder}; wait for that run to end "
                       "(or stop it), or choose another --workdir") from None
  os.ftruncate(fd, 0)
  os.write(fd, (f"process {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')} ({' '.join(sys.argv)[:200]})\n")
           .encode())
  _held[(st.st_dev, st.st_ino)] = fd


def disk_full(e: BaseException) -> bool:
  """Whether an error (or one it wraps) says the device is out of space."""
  while e is not None:
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
      return True
    if "No space left on device" in str(e) or "ENOSPC" in str(e):
      return True
    e = e.__cause__ or e.__context__
  return False


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
    try:
      os.makedirs(self.path, exist_ok=True)
    except OSError as e:
      raise WorkdirError(f"--workdir={path}: cannot create the folder ({e.strerror})") \
          from None
    try:
      _lock(self.path)
    except PermissionError as e:
      raise WorkdirError(f"--workdir={path}: cannot write there ({e.strerror}); expected a "
                         "folder this user can write, or choose another --workdir") from None
    self._made = set(self._manifest())
    self._told_pending = False
    if overwrite:
      self._clear()
    self._t0 = time.perf_counter()
    self.last = ""                      # the last progress line (where a run stopped)
    global active
    active = self

  def file(self, name: str) -> str:
    """The path of `name` in the workdir, recorded as the run's (see MANIFEST)."""
    top = name.replace(os.sep, "/").split("/")[0]
    if top not in self._made and not top.endswith(_TEMPORARY) and top != MANIFEST:
      self._made.add(top)
      with self._writing(MANIFEST):
        with open(os.path.join(self.path, MANIFEST), "a", encoding="utf-8") as f:
          f.write(top + "\n")
    return os.path.join(self.path, name)

  def _manifest(self) -> list[str]:
    try:
      with open(os.path.join(self.path, MANIFEST), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
      return []

  def _clear(self) -> None:
    """--overwrite: removes what runs wrote here (the manifest's names, and what every run
    makes), keeping anything else -- the input data, say -- and saying so."""
    ours = set(self._manifest()) | set(RUN_FILES)
    kept = []
    for entry in os.scandir(self.path):
      if entry.name == LOCK:
        continue
      if entry.name in ours or entry.name.endswith(_TEMPORARY):
        (shutil.rmtree if entry.is_dir() and not entry.is_symlink() else os.remove)(
            entry.path)
      else:
        kept.append(entry.name)
    self._made = set()
    if kept:
      print(f"--overwrite: kept {len(kept)} file(s) in {self.path} that no run wrote: "
            f"{', '.join(sorted(kept)[:5])}{' ...' if len(kept) > 5 else ''}", flush=True)

  @property
  def finished(self) -> bool:
    """Holds a readable results.json and every results file written after it (see
    `finish`). One that cannot be read (cut short by a crash or a failed copy) is renamed
    results.json.damaged, and the run is redone from its checkpoints (nothing is
    retrained that a checkpoint holds)."""
    path = self.file("results.json")
    if not os.path.exists(path):
      return False
    if os.path.exists(self.file(PENDING)):
      if not self._told_pending:
        self._told_pending = True
        self.log(f"{self.path}: the run stopped while writing its results files; writing "
                 "them again from its checkpoints")
      return False
    try:
      self.read_json("results.json")
      return True
    except (ValueError, UnicodeDecodeError) as e:
      os.replace(path, path + ".damaged")
      self.log(f"{path} is damaged ({type(e).__name__}: {str(e)[:80]}); set aside as "
               "results.json.damaged, redoing the run from its checkpoints")
      return False

  @property
  def started(self) -> bool:
    """Holds results or checkpoints of a run (not just the flags of a failed start)."""
    ck = self.file("checkpoints")
    return self.finished or (os.path.isdir(ck) and any(os.scandir(ck)))

  def check_same_run(self, ident: Identity) -> None:
    """Refuses a started run whose config.json differs from this run's (`ident`, see
    `eegjax.run.identity`), listing the settings that differ; a started run without its
    config.json is refused too: what made it cannot be checked."""
    if not self.started:
      return
    if not os.path.exists(self.file("config.json")):
      raise WorkdirError(f"--workdir={self.path} holds a started run whose config.json is "
                         "gone, so the settings that made it cannot be checked; put "
                         "config.json back, pass --overwrite to start afresh, or choose "
                         "another --workdir")
    try:
      recorded = self.read_json("config.json")
    except (ValueError, UnicodeDecodeError) as e:
      raise WorkdirError(f"{self.file('config.json')} cannot be read ({type(e).__name__}: "
                         f"{str(e)[:80]}), so the settings that made the run cannot be "
                         "checked; put a whole config.json back, pass --overwrite to start "
                         "afresh, or choose another --workdir") from None
    diffs = identity.differences(recorded, ident)
    if diffs:
      raise WorkdirError(f"--workdir={self.path} holds a run made with different settings: "
                         f"{'; '.join(diffs)}. Rerun with the same flags to resume it, pass "
                         "--overwrite to start afresh, or choose another --workdir")

  def read_json(self, name: str):
    with open(self.file(name), encoding="utf-8") as f:
      return json.load(f)

  def log(self, message: str) -> None:
    line = f"[{time.perf_counter() - self._t0:8.1f}s] {message}"
    self.last = message
    if self.echo:
      print(line, flush=True)
    with self._writing("log.txt"):
      with open(self.file("log.txt"), "a", encoding="utf-8") as f:
        f.write(line + "\n")

  def _writing(self, name: str):
    """Context turning a full disk while writing `name` into one clear DiskFull."""
    workdir = self

    class Guard:
      def __enter__(self):
        return self

      def __exit__(self, kind, e, tb):
        if isinstance(e, PermissionError):
          raise WorkdirError(f"--workdir={workdir.path}: cannot write {name} there "
                             f"({e.strerror}); expected a folder this user can write, or "
                             "choose another --workdir") from None
        if e is not None and isinstance(e, OSError) and disk_full(e):
          raise DiskFull(f"no space left on the device of {workdir.path} while writing "
                         f"{name}; files written before are intact. Free some space and "
                         "rerun the same command: it resumes from the last checkpoint") \
              from None
        return False
    return Guard()

  def write_text(self, name: str, text: str) -> None:
    tmp = self.file(name + ".tmp")
    with self._writing(name):
      with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, self.file(name))  # atomic: a reader never sees half a file

  def write_json(self, name: str, obj) -> None:
    if name == "results.json" and not os.path.exists(self.file(PENDING)):
      self.write_text(PENDING, "results.json written; the files after it are not yet\n")
    self.write_text(name, json.dumps(to_json(obj), indent=2, sort_keys=False) + "\n")

  def finish(self, message: str) -> None:
    """The run's closing line, once every results file is written: from here on the
    workdir holds a finished run."""
    if os.path.exists(self.file(PENDING)):
      os.remove(self.file(PENDING))
    self.log(message)

  def write_csv(self, name: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    out = io.StringIO(newline="")
    w = csv.writer(out)
    extra = list(self.provenance) if self.provenance else []
    w.writerow(list(header) + (["dataset", "data"] if extra else []))
    for r in rows:
      w.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else v for v in r]
                 + extra)
    self.write_text(name, out.getvalue())

  def write_npz(self, name: str, **arrays) -> None:
    tmp = self.file(name + ".tmp.npz")
    with self._writing(name):
      np.savez_compressed(tmp, **arrays)
      os.replace(tmp, self.file(name))
