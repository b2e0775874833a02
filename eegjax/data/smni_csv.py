"""The SMNI data's widely shared CSV export (one row per sample):

    ,trial number,sensor position,sample num,sensor value,subject identifier,matching condition,channel,name,time

`read_csv_export(path)` returns the same `SmniTrials` as the trial-file reader
(`eegjax.data.smni`), with the same checks; `write_csv_export` writes one (tests, twins).
"""

from __future__ import annotations

import csv
import gzip
import os
from typing import Callable, Iterable

import numpy as np

from eegjax.data.smni import (CHANNEL_INDEX, CHANNELS, NUM_SAMPLES, SAMPLING_RATE,
                              SmniTrials, Trial,
                              _collect, _condition, is_alcoholic)
from eegjax.errors import DataError

CSV_COLUMNS = ("trial number", "sensor position", "sample num", "sensor value",
               "subject identifier", "matching condition", "channel", "name", "time")


def _complete_trials(groups: dict, path: str, skip_bad: bool):
  """The grouped trials with every electrode's every sample, as Trials, and the messages of
  those left out (with `skip_bad`; else the first incomplete one is a DataError)."""
  trials, skipped = [], []
  for (subject, trial_no), g in groups.items():
    x = g["x"]
    where = f"{path}, trial {trial_no} of {subject} (from line {g['line']})"
    try:
      missing = [CHANNELS[c] for c in range(64) if np.isnan(x[c]).all()]
      if missing:
        raise DataError(f"{where}: missing electrode(s) {', '.join(missing)}")
      if np.isnan(x).any():
        c = int(np.argwhere(np.isnan(x).any(axis=1))[0, 0])
        raise DataError(f"{where}: truncated trial: electrode {CHANNELS[c]} has "
                        f"{int((~np.isnan(x[c])).sum())} of {NUM_SAMPLES} samples")
    except DataError as e:
      if not skip_bad:
        raise
      skipped.append(str(e))
      continue
    trials.append(Trial(subject, g["condition"], trial_no, x, f"{path}:{g['line']}"))
  return trials, skipped


def read_csv_export(path: str, *, skip_bad: bool = False,
                    log: Callable[[str], None] = print) -> SmniTrials:
  """The CSV export: one row per (trial, electrode, sample). Rows of one trial are
  grouped by (name, trial number); a malformed trial is a DataError naming file and
  line, or with `skip_bad` left out and reported.

  Long: one pass over the file that groups and checks rows as it reads them, so every check
  can name its line; the trials' completeness is `_complete_trials`."""
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such file")
  opener = gzip.open if path.endswith(".gz") else open
  groups: dict = {}
  bad: dict = {}
  with opener(path, "rt", newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    try:
      header = next(reader)
    except StopIteration:
      raise DataError(f"{path}: empty file; expected the SMNI CSV export header") from None
    cols = [h.strip() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in cols]
    if missing:
      raise DataError(f"{path}, line 1: missing column(s) {missing}; expected "
                      f"{list(CSV_COLUMNS)}")
    at = {c: cols.index(c) for c in CSV_COLUMNS}
    for lineno, row in enumerate(reader, 2):
      if not row:
        continue
      where = f"{path}, line {lineno}"
      if len(row) != len(cols):
        raise DataError(f"{where}: {len(row)} fields, expected {len(cols)}")
      subject = row[at["name"]].strip()
      try:
        key = (subject, int(row[at["trial number"]]))
      except ValueError:
        raise DataError(f"{where}: trial number {row[at['trial number']]!r} is not an "
                        "integer") from None
      if key in bad:
        continue
      g = groups.get(key)
      try:
        if g is None:
          cond = _condition(row[at["matching condition"]], where)
          is_alcoholic(subject)
          g = groups[key] = {"x": np.full((64, NUM_SAMPLES), np.nan, np.float32),
                             "condition": cond, "line": lineno}
        name = row[at["sensor position"]].strip()
        if name not in CHANNEL_INDEX:
          raise DataError(f"{where}: electrode {name!r} is not one of the 64 SMNI "
                          "electrodes")
        try:
          s = int(row[at["sample num"]])
          v = float(row[at["sensor value"]])
        except ValueError:
          raise DataError(f"{where}: expected an integer sample num and a numeric sensor "
                          f"value, got {row[at['sample num']]!r}, "
                          f"{row[at['sensor value']]!r}") from None
        if not np.isfinite(v) or not 0 <= s < NUM_SAMPLES:
          raise DataError(f"{where}: sample {s} / value {v} out of range")
        c = CHANNEL_INDEX[name]
        if not np.isnan(g["x"][c, s]):
          raise DataError(f"{where}: duplicated sample {s} of electrode {name} in trial "
                          f"{key[1]} of {subject}")
        g["x"][c, s] = v
      except DataError as e:
        if not skip_bad:
          raise
        bad[key] = str(e)
        groups.pop(key, None)
  trials, skipped = _complete_trials(groups, path, skip_bad)
  skipped = [bad[k] for k in bad] + skipped
  for s in skipped:
    log(f"skipped: {s}")
  if not trials:
    raise DataError(f"{path}: no complete trial in the CSV export")
  return _collect(trials, skipped, path)


def write_csv_export(path: str, trials: Iterable[Trial]) -> None:
  """Trials in the CSV export's layout (the leading unnamed column is a row index)."""
  with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["", *CSV_COLUMNS])
    i = 0
    for t in trials:
      ident = "a" if t.alcoholic else "c"
      for c, name in enumerate(CHANNELS):
        for s in range(NUM_SAMPLES):
          w.writerow([i, t.trial, name, s, f"{t.x[c, s]:.3f}", ident, t.condition, c,
                      t.subject, f"{s / SAMPLING_RATE:.7f}"])
          i += 1


