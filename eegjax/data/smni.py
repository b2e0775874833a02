"""The UCI SMNI EEG database (alcoholism study): readers and writers of its two formats.

The data are not shipped; point the readers at your copy. 122 subjects (the 4th letter of
the subject name: `a` alcoholic, `c` control), 64 electrodes sampled at 256 Hz, one-second
trials after a visual stimulus: `S1 obj` (one picture), `S2 match` or `S2 nomatch` (a second
picture, the same or another).

**Trial files** (`co2a0000364.rd.000`, gzipped or plain; alone, in subject folders, or in
tar archives, as UCI distributes them), one trial each:

    # co2a0000364.rd
    # 120 trials, 64 chans, 416 samples 368 post_stim samples
    # 3.906000 msecs uV
    # S1 obj , trial 0
    # FP1 chan 0
    0 FP1 0 -8.921
    0 FP1 1 -8.433
    ...

`read_trials(path)` reads a file, a folder (recursively) or an archive.

The widely shared CSV export (one row per sample) is read by `eegjax.data.smni_csv`.

Both return `SmniTrials`: x (trials, 64, 256) in microvolts, subject names, alcoholic
labels, conditions and trial numbers. A truncated trial, a missing electrode, a duplicated
sample or a non-numeric value is a `DataError` naming file and line; with `skip_bad=True`
the rest is loaded and every skipped trial reported (`SmniTrials.skipped`).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import os
import re
import tarfile
import warnings
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from eegjax.data.dataset import Dataset, DatasetInfo, make_dataset
from eegjax.errors import DataError

SAMPLING_RATE = 256.0
NUM_SAMPLES = 256
# Electrode names in the files' channel order (chan 0 .. 63). X, Y and nd are not scalp
# positions (eye and reference channels).
CHANNELS = (
    "FP1", "FP2", "F7", "F8", "AF1", "AF2", "FZ", "F4", "F3", "FC6", "FC5", "FC2", "FC1",
    "T8", "T7", "CZ", "C3", "C4", "CP5", "CP6", "CP1", "CP2", "P3", "P4", "PZ", "P8", "P7",
    "PO2", "PO1", "O2", "O1", "X", "AF7", "AF8", "F5", "F6", "FT7", "FT8", "FPZ", "FC4",
    "FC3", "C6", "C5", "F2", "F1", "TP8", "TP7", "AFZ", "CP3", "CP4", "P5", "P6", "C1", "C2",
    "PO7", "PO8", "FCZ", "POZ", "OZ", "P2", "P1", "CPZ", "nd", "Y")
CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNELS)}
CONDITIONS = ("S1 obj", "S2 match", "S2 nomatch")
CLASS_NAMES = ("control", "alcoholic")

assert len(CHANNELS) == 64


@dataclasses.dataclass
class Trial:
  subject: str               # e.g. co2a0000364
  condition: str             # one of CONDITIONS
  trial: int                 # the trial number within the subject's session
  x: np.ndarray              # (64, 256) float32, microvolts
  source: str = ""           # file (and archive member) it came from

  @property
  def alcoholic(self) -> bool:
    return is_alcoholic(self.subject)


@dataclasses.dataclass
class SmniTrials:
  x: np.ndarray              # (n, 64, 256) float32
  subjects: np.ndarray       # (n,) str
  alcoholic: np.ndarray      # (n,) bool
  conditions: np.ndarray     # (n,) str
  trials: np.ndarray         # (n,) int
  sources: list
  skipped: list              # "source: reason" of every trial left out (skip_bad)
  name: str = "smni"
  real: bool = True
  source: str = ""

  def __len__(self) -> int:
    return int(self.x.shape[0])

  def dataset(self) -> Dataset:
    """Sequences (n, 256, 64) labelled control / alcoholic, grouped by subject."""
    subjects = sorted(set(self.subjects.tolist()))
    groups = np.array([subjects.index(s) for s in self.subjects], np.int32)
    info = DatasetInfo(
        name=self.name, source=self.source, real=self.real, sampling_rate=SAMPLING_RATE,
        channel_names=CHANNELS,
        description=f"SMNI EEG: {len(self)} one-second trials of {len(subjects)} subjects"
        + (f"; {len(self.skipped)} malformed trial(s) skipped: " + " | ".join(self.skipped)
           if self.skipped else ""))
    return make_dataset(np.transpose(self.x, (0, 2, 1)), self.alcoholic.astype(np.int32),
                        CLASS_NAMES, info, groups=groups)


def is_alcoholic(subject: str) -> bool:
  """The SMNI naming rule: the 4th character is `a` (alcoholic) or `c` (control)."""
  if len(subject) < 4 or subject[3] not in "ac":
    raise DataError(f"subject {subject!r}: expected a name like co2a0000364 whose 4th "
                    "letter is a (alcoholic) or c (control)")
  return subject[3] == "a"


def _condition(text: str, where: str) -> str:
  """'S1 obj', 'S2 match', 'S2 nomatch' from a header or CSV field, ignoring commas and
  anything after the stimulus ('S2 match err')."""
  t = " ".join(text.replace(",", " ").split())
  for c in CONDITIONS:
    if t == c or t.startswith(c + " "):
      return c
  raise DataError(f"{where}: stimulus condition {text.strip()!r}: expected one of "
                  f"{list(CONDITIONS)}")


# ------------------------------------------------------------------------ trial files
_TRIAL_HEADER = re.compile(r"^#\s*(.+?)\s*,\s*trial\s+(\d+)\s*$")
_CHAN_HEADER = re.compile(r"^#\s*(\S+)\s+chan\s+(\d+)\s*$")


def parse_trial(text: str, source: str) -> Trial:
  """One trial file's text -> Trial; errors name `source` and the line.

  A file as UCI writes it is read in bulk (`_parse_trial_bulk`: numpy's C reader over all
  data rows at once, then the checks over whole columns: headers, electrode order, four
  fields a row, integer trial and sample, finite values, every sample of every electrode
  exactly once). Any other file goes through the line-by-line reader, which reads what it
  accepts and otherwise names the offending line."""
  trial = _parse_trial_bulk(text, source)
  if trial is not None:
    return trial
  return _parse_trial_lines(text, source)       # a trial, or a DataError naming the line


_COMMENT = re.compile(r"^[ \t]*#.*$", re.M)
_ROW = np.dtype([("trial", np.int64), ("name", "U8"), ("sample", np.int64),
                 ("value", np.float64)])


def _parse_trial_bulk(text: str, source: str) -> Optional[Trial]:
  """The trial, or None when it is not read here (the line reader then reads it or says
  which line is wrong). Only '#' lines are comments: a '#' inside a data row is left to
  the line reader, as are rows that numpy's reader would coerce (an integer written 1.0)."""
  comments = _COMMENT.findall(text)
  if sum(c.count("#") for c in comments) != text.count("#"):
    return None
  subject = condition = trial_no = None
  for ln in (c.strip() for c in comments):
    m = _TRIAL_HEADER.match(ln)
    if m:
      try:
        condition, trial_no = _condition(m.group(1), source), int(m.group(2))
      except DataError:
        return None
      continue
    if subject is None and re.match(r"^#\s*\w+\.rd\s*$", ln):
      subject = ln.lstrip("#").strip()[:-3]
      continue
    m = _CHAN_HEADER.match(ln)
    if m and m.group(1) in CHANNEL_INDEX and int(m.group(2)) != CHANNEL_INDEX[m.group(1)]:
      return None
  if subject is None or condition is None or len(subject) < 4 or subject[3] not in "ac":
    return None
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error")         # numpy's coercions warn: not read here
      table = np.loadtxt(io.StringIO(text), dtype=_ROW, comments="#", ndmin=1)
  except (ValueError, Warning):
    return None
  if table.shape != (len(CHANNELS) * NUM_SAMPLES,):
    return None
  names, where = np.unique(table["name"], return_inverse=True)
  chan = np.array([CHANNEL_INDEX.get(str(n), -1) for n in names])[where]
  samples, values = table["sample"], table["value"]
  if (chan < 0).any() or (samples < 0).any() or (samples >= NUM_SAMPLES).any() or \
      not np.isfinite(values).all():
    return None
  flat = chan * NUM_SAMPLES + samples
  if np.bincount(flat, minlength=flat.size).max() != 1:
    return None
  x = np.empty(len(CHANNELS) * NUM_SAMPLES, np.float32)
  x[flat] = values
  return Trial(subject=subject, condition=condition, trial=trial_no,
               x=x.reshape(len(CHANNELS), NUM_SAMPLES), source=source)


def _parse_trial_lines(text: str, source: str) -> Trial:
  subject = condition = None
  trial_no = None
  x = np.full((len(CHANNELS), NUM_SAMPLES), np.nan, np.float32)
  for lineno, raw in enumerate(text.splitlines(), 1):
    line = raw.strip()
    where = f"{source}, line {lineno}"
    if not line:
      continue
    if line.startswith("#"):
      m = _TRIAL_HEADER.match(line)
      if m:
        condition, trial_no = _condition(m.group(1), where), int(m.group(2))
        continue
      if subject is None and re.match(r"^#\s*\w+\.rd\s*$", line):
        subject = line.lstrip("#").strip()[:-3]
        continue
      m = _CHAN_HEADER.match(line)
      if m and m.group(1) in CHANNEL_INDEX and int(m.group(2)) != CHANNEL_INDEX[m.group(1)]:
        raise DataError(f"{where}: electrode {m.group(1)} is chan {m.group(2)}; the SMNI "
                        f"order has it as chan {CHANNEL_INDEX[m.group(1)]}")
      continue                                      # other comment lines: units, counts
    parts = line.split()
    if len(parts) != 4:
      raise DataError(f"{where}: expected 4 fields 'trial electrode sample value', got "
                      f"{len(parts)}: {line[:60]!r}")
    t, name, sample, value = parts
    if name not in CHANNEL_INDEX:
      raise DataError(f"{where}: electrode {name!r} is not one of the 64 SMNI electrodes")
    try:
      s = int(sample)
      v = float(value)
      int(t)
    except ValueError:
      raise DataError(f"{where}: expected integer trial and sample and a numeric value, "
                      f"got {line[:60]!r}") from None
    if not np.isfinite(v):
      raise DataError(f"{where}: value {value!r} is not finite")
    if not 0 <= s < NUM_SAMPLES:
      raise DataError(f"{where}: sample {s} outside 0..{NUM_SAMPLES - 1}")
    c = CHANNEL_INDEX[name]
    if not np.isnan(x[c, s]):
      raise DataError(f"{where}: duplicated sample {s} of electrode {name}")
    x[c, s] = v
  if subject is None:
    raise DataError(f"{source}: no '# <subject>.rd' header line: not an SMNI trial file")
  if condition is None:
    raise DataError(f"{source}: no '# <condition> , trial N' header line")
  missing = [CHANNELS[c] for c in range(len(CHANNELS)) if np.isnan(x[c]).all()]
  if missing:
    raise DataError(f"{source}: missing electrode(s) {', '.join(missing)} (expected all 64)")
  short = [(CHANNELS[c], int((~np.isnan(x[c])).sum())) for c in range(len(CHANNELS))
           if np.isnan(x[c]).any()]
  if short:
    name, n = short[0]
    raise DataError(f"{source}: truncated trial: electrode {name} has {n} of "
                    f"{NUM_SAMPLES} samples ({len(short)} electrode(s) incomplete)")
  is_alcoholic(subject)
  return Trial(subject=subject, condition=condition, trial=trial_no, x=x, source=source)


def _decode(data: bytes, name: str) -> str:
  if name.endswith(".gz") or data[:2] == b"\x1f\x8b":
    try:
      data = gzip.decompress(data)
    except (OSError, EOFError) as e:
      raise DataError(f"{name}: not a readable gzip file ({e})") from None
  try:
    return data.decode("ascii")
  except UnicodeDecodeError:
    raise DataError(f"{name}: not a text SMNI trial file (non-ASCII bytes)") from None


def _is_archive(name: str) -> bool:
  return name.endswith((".tar", ".tar.gz", ".tgz"))


def _is_trial_name(name: str) -> bool:
  base = os.path.basename(name)
  return bool(re.search(r"\.rd(\.\d+)?(\.gz)?$", base)) and not base.startswith(".")


def _texts(path: str) -> Iterator[tuple[str, Callable[[], str]]]:
  """(source, read) for every trial file under `path` (file, folder or tar archive)."""
  if os.path.isdir(path):
    for root, dirs, files in os.walk(path):
      dirs.sort()
      for f in sorted(files):
        full = os.path.join(root, f)
        if _is_archive(f):
          yield from _texts(full)
        elif _is_trial_name(f):
          yield full, (lambda p=full: _read_file(p))
    return
  if not os.path.exists(path):
    raise DataError(f"{path}: no such file or folder")
  if _is_archive(path):
    try:
      tar = tarfile.open(path)
    except (tarfile.TarError, OSError) as e:
      raise DataError(f"{path}: not a readable tar archive ({e})") from None
    with tar:
      members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
      for m in members:
        if _is_archive(m.name):
          data = tar.extractfile(m).read()
          inner = tarfile.open(fileobj=io.BytesIO(data))
          for im in sorted((i for i in inner.getmembers() if i.isfile()),
                           key=lambda i: i.name):
            if _is_trial_name(im.name):
              src = f"{path}:{m.name}:{im.name}"
              d = inner.extractfile(im).read()
              yield src, (lambda d=d, s=src: _decode(d, s))
        elif _is_trial_name(m.name):
          src = f"{path}:{m.name}"
          d = tar.extractfile(m).read()
          yield src, (lambda d=d, s=src: _decode(d, s))
    return
  yield path, (lambda: _read_file(path))


def _read_file(path: str) -> str:
  with open(path, "rb") as f:
    return _decode(f.read(), path)


def read_trials(path: str, *, skip_bad: bool = False,
                log: Callable[[str], None] = print) -> SmniTrials:
  """Every trial file under `path` (a trial file, a folder searched recursively, or a tar
  archive of them, gzipped or plain). A malformed trial is a DataError, or with
  `skip_bad` is left out and reported."""
  trials, skipped = [], []
  for source, read in _texts(path):
    try:
      trials.append(parse_trial(read(), source))
    except DataError as e:
      if not skip_bad:
        raise
      skipped.append(str(e))
      log(f"skipped: {e}")
  if not trials:
    raise DataError(f"{path}: no SMNI trial files found (names like co2a0000364.rd.000, "
                    "optionally .gz, in folders or .tar/.tar.gz archives)"
                    + (f"; {len(skipped)} skipped as malformed" if skipped else ""))
  return _collect(trials, skipped, path)


def _collect(trials: Sequence[Trial], skipped: list, path: str) -> SmniTrials:
  return SmniTrials(
      x=np.stack([t.x for t in trials]).astype(np.float32),
      subjects=np.array([t.subject for t in trials]),
      alcoholic=np.array([t.alcoholic for t in trials]),
      conditions=np.array([t.condition for t in trials]),
      trials=np.array([t.trial for t in trials], np.int64),
      sources=[t.source for t in trials], skipped=list(skipped), source=path)


def format_trial(t: Trial, num_trials: int = 120) -> str:
  """A trial in the SMNI trial-file format (values to 3 decimals, as UCI's files)."""
  out = [f"# {t.subject}.rd",
         f"# {num_trials} trials, 64 chans, 416 samples 368 post_stim samples",
         "# 3.906000 msecs uV",
         f"# {t.condition} , trial {t.trial}"]
  body = _trial_template(t.trial) % tuple(np.asarray(t.x, np.float64).ravel().tolist())
  return "\n".join(out) + "\n" + body


@functools.lru_cache(maxsize=8)
def _trial_template(trial: int) -> str:
  """The body of a trial file with %.3f slots for its 64 x 256 values (one C-level
  %-format per file instead of 16,384 f-strings)."""
  out = []
  for c, name in enumerate(CHANNELS):
    out.append(f"# {name} chan {c}")
    out.extend(f"{trial} {name} {s} %.3f" for s in range(NUM_SAMPLES))
  return "\n".join(out) + "\n"


def write_trial(path: str, t: Trial) -> None:
  """One trial file; gzipped when `path` ends in .gz."""
  text = format_trial(t).encode("ascii")
  if path.endswith(".gz"):
    text = gzip.compress(text, compresslevel=1, mtime=0)   # fast; any level reads back
  with open(path, "wb") as f:
    f.write(text)
