"""Reader for the UEA / aeon `.ts` time-series format (plain or gzipped).

The format: `#` comment lines, `@key value` header lines ending with `@data`, then one
case per line, channels separated by `:`, values within a channel by `,`, the class
label last. Series may have unequal lengths (`@equalLength false`); they are padded
with zeros to the longest and their true lengths kept. Timestamps, missing values
(`?`) and regression targets are not supported and say so.
"""

from __future__ import annotations

import gzip
import os
from typing import Optional

import numpy as np

from eegjax.data.dataset import DataError, Dataset, DatasetInfo, encode_labels, make_dataset


def _open_text(path: str):
  if not os.path.exists(path):
    raise DataError(f"{path}: no such file")
  if os.path.isdir(path):
    raise DataError(f"{path}: is a folder; expected a .ts file")
  if path.endswith(".gz"):
    return gzip.open(path, "rt", encoding="utf-8", errors="replace")
  return open(path, "r", encoding="utf-8", errors="replace")


def _parse_values(text: str, where: str, channel: int) -> np.ndarray:
  if not text.strip():
    raise DataError(f"{where}: channel {channel} is empty (a zero-length series); "
                    "expected at least one value")
  tokens = text.split(",")
  try:
    values = np.array(tokens, dtype=np.float64)
  except ValueError:
    for j, tok in enumerate(tokens):
      try:
        float(tok)
      except ValueError:
        what = "a missing value '?'" if tok.strip() == "?" else f"{tok.strip()!r}"
        raise DataError(f"{where}: channel {channel}, value {j}: {what} is not a number; "
                        "expected numeric values") from None
    raise
  if not np.all(np.isfinite(values)):
    j = int(np.argmin(np.isfinite(values)))
    raise DataError(f"{where}: channel {channel}, value {j} is {tokens[j].strip()}; "
                    "expected finite numbers")
  return values


def load_ts(path: str, *, name: Optional[str] = None, sampling_rate: Optional[float] = None,
            channel_names: tuple[str, ...] = (), real: bool = True) -> Dataset:
  """Loads a .ts file into a sequence Dataset (x: cases x time x channels).

  Long: the header and the data section are read in one pass, so every malformed line is
  named where it is."""
  header: dict[str, str] = {}
  cases: list[list[np.ndarray]] = []
  labels: list[str] = []
  lines: list[int] = []
  in_data = False
  with _open_text(path) as f:
    for lineno, raw in enumerate(f, start=1):
      line = raw.strip()
      if not line or line.startswith("#"):
        continue
      where = f"{path}:{lineno}"
      if not in_data:
        if not line.startswith("@"):
          raise DataError(f"{where}: expected an @ header line or @data before data rows")
        key, _, value = line[1:].partition(" ")
        key = key.lower()
        if key == "data":
          in_data = True
          continue
        header[key] = value.strip()
        if key == "timestamps" and value.strip().lower() == "true":
          raise DataError(f"{where}: @timestamps true is not supported; expected false")
        if key == "targetlabel" and value.strip().lower().startswith("true"):
          raise DataError(f"{where}: regression targets are not supported; "
                          "expected @classLabel true <labels>")
        continue
      parts = line.split(":")
      if len(parts) < 2:
        raise DataError(f"{where}: a case needs channel values and a class label "
                        "separated by ':'")
      channels = [_parse_values(p, where, c) for c, p in enumerate(parts[:-1])]
      if cases and len(channels) != len(cases[0]):
        raise DataError(f"{where}: {len(channels)} channels, but the first case "
                        f"(line {lines[0]}) has {len(cases[0])}; expected every case to "
                        "have the same number of channels")
      if len({len(c) for c in channels}) != 1:
        raise DataError(f"{where}: channels have lengths {[len(c) for c in channels]}; "
                        "expected all channels of a case to have the same length")
      cases.append(channels)
      labels.append(parts[-1])
      lines.append(lineno)

  if not in_data:
    raise DataError(f"{path}: no @data line; expected a .ts header ending with @data")
  if not cases:
    raise DataError(f"{path}: empty file (no cases after @data)")
  dims = header.get("dimensions")
  if dims is not None and dims.isdigit() and int(dims) != len(cases[0]):
    raise DataError(f"{path}:{lines[0]}: {len(cases[0])} channels, but @dimensions says {dims}")

  class_decl = header.get("classlabel", "")
  declared = None
  if class_decl:
    flag, *names = class_decl.split()
    if flag.lower() != "true":
      raise DataError(f"{path}: @classLabel {class_decl!r}; expected 'true <label> ...'")
    declared = names or None
  y, classes = encode_labels(labels, declared, path, line_of=lambda i: lines[i])

  lengths = np.array([len(c[0]) for c in cases], np.int32)
  if header.get("equallength", "").lower() == "true" and len(set(lengths.tolist())) > 1:
    i = int(np.argmax(lengths != lengths[0]))
    raise DataError(f"{path}:{lines[i]}: series length {lengths[i]} differs from "
                    f"{lengths[0]}, but the header says @equalLength true")
  n, t_max, c = len(cases), int(lengths.max()), len(cases[0])
  x = np.zeros((n, t_max, c), np.float32)
  for i, chans in enumerate(cases):
    x[i, :lengths[i]] = np.stack(chans, axis=-1)
  info = DatasetInfo(
      name=name or header.get("problemname", os.path.basename(path)),
      source=os.path.abspath(path), real=real, sampling_rate=sampling_rate,
      channel_names=tuple(channel_names) or tuple(f"ch{i}" for i in range(c)))
  return make_dataset(x, y, classes, info,
                      lengths=None if (lengths == t_max).all() else lengths, where=path)
