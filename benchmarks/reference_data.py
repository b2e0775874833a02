"""The PyTorch reference's synthetic data and folds, regenerated here (numpy only).

The speed comparison trains both sides on the same arrays and the same k-fold split. The
reference scripts live outside this project (users do not have them), so this module
repeats their generator: same seeds, same numpy calls, bit-identical arrays. `digest()`
prints a checksum to compare with the reference's data when in doubt.

MLP: 576 instances x 25 features, 3 balanced classes (Gaussian blobs), min-max to [0, 1].
RNN: 192 sequences x 2400 steps x 1 feature, 3 classes (noisy class-dependent sinusoids).
Folds: shuffled K-fold like sklearn's KFold(shuffle=True) (576/10 -> 6 x 58 + 4 x 57).
All of it is synthetic: timing data, not a finding about EEG.
"""

import hashlib

import numpy as np

DATA_SEED = 0


def minmax(a):
  lo, hi = a.min(axis=0, keepdims=True), a.max(axis=0, keepdims=True)
  return ((a - lo) / (hi - lo)).astype(np.float32)


def mlp_data(n=576, d=25, k=3, spread=1.0, std=2.2, seed=DATA_SEED):
  rng = np.random.default_rng(seed)
  y = np.repeat(np.arange(k), n // k)
  centers = rng.normal(0.0, spread, size=(k, d))
  x = centers[y] + rng.normal(0.0, std, size=(n, d))
  p = rng.permutation(n)
  return minmax(x[p]), y[p].astype(np.int64)


def rnn_data(n=192, length=2400, k=3, seed=DATA_SEED):
  rng = np.random.default_rng(seed)
  y = np.repeat(np.arange(k), n // k)
  t = np.arange(length)
  freq = np.array([0.010, 0.014, 0.020])[y] * rng.uniform(0.9, 1.1, size=n)
  amp = np.array([1.0, 0.8, 0.6])[y] * rng.uniform(0.9, 1.1, size=n)
  phase = rng.uniform(0, 2 * np.pi, size=n)
  offset = np.array([-0.5, 0.0, 0.5])[y]
  x = amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])
  x = x + offset[:, None] + rng.normal(0.0, 0.5, size=x.shape)
  x = (x - x.min()) / (x.max() - x.min())
  p = rng.permutation(n)
  return x[p, :, None].astype(np.float32), y[p].astype(np.int64)


def kfold(n, folds, seed=DATA_SEED):
  """List of (train_idx, test_idx) like KFold(n_splits=folds, shuffle=True)."""
  rng = np.random.default_rng(seed + 1)
  perm = rng.permutation(n)
  parts = np.array_split(perm, folds)
  return [(np.sort(np.concatenate([parts[j] for j in range(folds) if j != i])),
           np.sort(parts[i])) for i in range(folds)]


def mlp_flops(n_train, epochs, d=25, h=30, k=3):
  """Training FLOPs of one (seed, fold), counted as the reference does: 3 x forward."""
  return 3 * (2 * d * h + 2 * h * k) * n_train * epochs


def rnn_flops(n_train, epochs, length=2400, d=1, h=50, k=3):
  return 3 * (length * (2 * d * h + 2 * h * h) + 2 * h * k) * n_train * epochs


def digest(*arrays) -> str:
  h = hashlib.sha256()
  for a in arrays:
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:12]
