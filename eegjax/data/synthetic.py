"""Seeded synthetic twins of the brainwave-music study's data (which is not public).

They have the study's shapes and, on purpose, its main trap: strong participant effects.

`music_features` — 576 trials x 25 features, 3 balanced classes, 24 participants (8 trials
  per class each). A feature vector is

      x = shared_class_effect[y] + participant_offset[g] + participant_class_effect[g, y] + noise

  The shared effect is what generalises to new people. The participant-specific class
  effect is stronger, so a random split (which puts each participant in both train and
  test) can learn it and scores well above a participant-grouped split: the random split
  leaks. tests/test_synthetic.py checks that gap with a nearest-neighbour classifier.

`music_sequences` — 192 single-channel trials of 2000-3000 samples at 128 Hz, 3 balanced
  classes, 16 participants (4 trials per class each). Each trial is pink (1/f) background
  noise plus a class rhythm (class 0: alpha ~10 Hz, class 1: theta ~6 Hz, class 2: beta
  ~20 Hz) whose frequency is shifted per participant, scaled by a per-participant gain and
  offset by a per-participant DC level.
"""

from __future__ import annotations

import numpy as np

from eegjax.data.dataset import Dataset, DatasetInfo, make_dataset

MUSIC_CLASSES = ("class0", "class1", "class2")


def music_features(seed: int = 0, *, num_participants: int = 24, per_class: int = 8,
                   num_features: int = 25, shared: float = 0.45, participant: float = 1.5,
                   participant_class: float = 1.0, noise: float = 1.0) -> Dataset:
  """Music-like feature table (see module docstring); scales are in noise-std units."""
  rng = np.random.default_rng(seed)
  k = len(MUSIC_CLASSES)
  shared_effect = rng.normal(0.0, shared, (k, num_features))
  offsets = rng.normal(0.0, participant, (num_participants, num_features))
  interaction = rng.normal(0.0, participant_class, (num_participants, k, num_features))
  groups = np.repeat(np.arange(num_participants), k * per_class)
  y = np.tile(np.repeat(np.arange(k), per_class), num_participants)
  x = (shared_effect[y] + offsets[groups] + interaction[groups, y]
       + rng.normal(0.0, noise, (len(y), num_features)))
  order = rng.permutation(len(y))
  info = DatasetInfo(
      name="music_features", source=f"eegjax.data.synthetic.music_features(seed={seed})",
      real=False, feature_names=tuple(f"f{i:02d}" for i in range(num_features)),
      description="synthetic twin of the brainwave-music 25-feature table "
                  "(participant effects make random splits leak)")
  return make_dataset(x[order], y[order], MUSIC_CLASSES, info, groups=groups[order])


def _pink_noise(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
  spec = np.fft.rfft(rng.normal(size=(n, length)), axis=1)
  f = np.arange(spec.shape[1], dtype=np.float64)
  f[0] = 1.0
  sig = np.fft.irfft(spec / np.sqrt(f), n=length, axis=1)
  return sig / sig.std(axis=1, keepdims=True)


def music_sequences(seed: int = 0, *, num_participants: int = 16, per_class: int = 4,
                    min_length: int = 2000, max_length: int = 3000,
                    sampling_rate: float = 128.0, rhythm: float = 0.8) -> Dataset:
  """Music-like raw single-channel sequences (see module docstring)."""
  rng = np.random.default_rng(seed)
  k = len(MUSIC_CLASSES)
  n = num_participants * k * per_class
  groups = np.repeat(np.arange(num_participants), k * per_class)
  y = np.tile(np.repeat(np.arange(k), per_class), num_participants)
  lengths = rng.integers(min_length, max_length + 1, n).astype(np.int32)
  base_freq = np.array([10.0, 6.0, 20.0])
  freq_shift = rng.normal(0.0, 0.8, num_participants)
  gain = rng.lognormal(0.0, 0.3, num_participants)
  dc = rng.normal(0.0, 1.0, num_participants)
  t = np.arange(max_length) / sampling_rate
  freq = base_freq[y] + freq_shift[groups] + rng.normal(0.0, 0.3, n)
  phase = rng.uniform(0, 2 * np.pi, n)
  amp = rhythm * rng.uniform(0.7, 1.3, n)
  x = _pink_noise(rng, n, max_length)
  x += amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])
  x = gain[groups, None] * x + dc[groups, None]
  x[np.arange(max_length)[None, :] >= lengths[:, None]] = 0.0
  order = rng.permutation(n)
  info = DatasetInfo(
      name="music_sequences", source=f"eegjax.data.synthetic.music_sequences(seed={seed})",
      real=False, sampling_rate=sampling_rate, channel_names=("eeg",),
      description="synthetic twin of the brainwave-music raw single-channel sequences")
  return make_dataset(x[order, :, None], y[order], MUSIC_CLASSES, info,
                      groups=groups[order], lengths=lengths[order])


# ------------------------------------------------------------------ SMNI alcoholism twin
SMNI_BANDS = {"theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0)}


def smni_trials(seed: int = 0, *, num_subjects: int = 30, trials_per_subject: int = 10,
                effect: float = 0.3, subject_spread: float = 0.4):
  """Synthetic SMNI-like trials (`eegjax.data.smni.Trial` list): 64 electrodes x 256
  samples at 256 Hz, half the subjects alcoholic (names co2a..., the rest co2c...), each
  trial one of the three stimulus conditions.

  Each electrode is pink background noise plus theta (6 Hz), alpha (10 Hz) and beta
  (20 Hz) rhythms. Alcoholic subjects have more theta and beta power and less alpha (by
  `effect`, as a log-amplitude shift; the direction reported for alcoholism), each subject
  scales every band by its own lognormal factor (`subject_spread`: subject effects that a
  trial-level split leaks), and the band amplitudes vary smoothly over the scalp."""
  from eegjax.data.smni import CHANNELS, CONDITIONS, NUM_SAMPLES, SAMPLING_RATE, Trial
  rng = np.random.default_rng(seed)
  t = np.arange(NUM_SAMPLES) / SAMPLING_RATE
  n_ch = len(CHANNELS)
  scalp = rng.normal(0.0, 0.2, (3, n_ch))            # per-band spatial pattern
  direction = np.array([1.0, -1.0, 1.0])             # theta up, alpha down, beta up
  freqs = np.array([6.0, 10.0, 20.0])
  out = []
  for s in range(num_subjects):
    alcoholic = s % 2 == 0
    name = f"co2{'a' if alcoholic else 'c'}{1000364 + s:07d}"
    subject_gain = rng.normal(0.0, subject_spread, 3)
    for k in range(trials_per_subject):
      log_amp = (scalp + subject_gain[:, None]
                 + (effect * direction[:, None] if alcoholic else 0.0)
                 + rng.normal(0.0, 0.3, (3, n_ch)))
      amp = 4.0 * np.exp(log_amp)                      # microvolts
      x = 3.0 * _pink_noise(rng, n_ch, NUM_SAMPLES)
      for b in range(3):
        f = freqs[b] + rng.normal(0.0, 0.5)
        phase = rng.uniform(0, 2 * np.pi, n_ch)
        x += amp[b][:, None] * np.sin(2 * np.pi * f * t[None, :] + phase[:, None])
      out.append(Trial(subject=name, condition=CONDITIONS[k % 3], trial=k,
                       x=np.round(x, 3).astype(np.float32)))
  return out


def write_smni_files(directory: str, trials, *, layout: str = "folders",
                     gz: bool = True) -> list[str]:
  """Writes trials in the UCI distribution's layout: `folders` (one folder per subject,
  files <subject>.rd.<trial>[.gz]), `tar` (one <subject>.tar.gz of that folder per
  subject) or `flat` (all files in `directory`). Returns the written paths."""
  import os
  import tarfile

  from eegjax.data.smni import write_trial
  if layout not in ("folders", "tar", "flat"):
    raise ValueError(f"layout {layout!r}: expected folders, tar or flat")
  os.makedirs(directory, exist_ok=True)
  written = []
  by_subject: dict = {}
  for tr in trials:
    by_subject.setdefault(tr.subject, []).append(tr)
  for subject, items in by_subject.items():
    folder = directory if layout == "flat" else os.path.join(directory, subject)
    os.makedirs(folder, exist_ok=True)
    for tr in items:
      path = os.path.join(folder, f"{subject}.rd.{tr.trial:03d}" + (".gz" if gz else ""))
      write_trial(path, tr)
      written.append(path)
    if layout == "tar":
      archive = os.path.join(directory, f"{subject}.tar.gz")
      with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=subject)
      for p in os.listdir(folder):
        os.remove(os.path.join(folder, p))
      os.rmdir(folder)
      written = [w for w in written if not w.startswith(folder)] + [archive]
  return written
