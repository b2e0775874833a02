"""Paired comparisons that fit the protocol, and family-wise corrections.

Two methods (here: two pruning criteria) evaluated on the same trained models and the same
test rows. Which test fits depends on how the models and test rows were drawn:

  one given train / test split (official, holdout): the seeds share the training and the
      test rows, so the only randomness across seeds is the training's, and the test rows
      are one sample of the population. `two_way_bootstrap` resamples the seeds and the
      test rows together (independently, with replacement) and reads the mean difference
      in accuracy of every resample: its interval includes the test-row sampling, and its
      p-value is the two-sided bootstrap p with the +1 correction (never 0).
  k-fold, repeated R times with a new partition per repetition: `corrected_t`, the
      corrected repeated-CV t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004): the
      per-fold differences (seeds averaged within a fold, so J = k R folds), variance
      scaled by 1/J + n_test/n_train, df = J - 1. With zero spread it gives no p (NaN),
      never 0 or 1 by a degenerate branch.

`holm` adjusts a table's p-values for its number of comparisons (Holm 1979, family-wise),
raw and adjusted side by side.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

BOOTSTRAP = ("two-way bootstrap over seeds x test rows (both resampled with replacement, "
             "independently), {B} resamples: mean paired difference in accuracy, 95% "
             "percentile interval, two-sided p = 2 min(#(d* <= 0)+1, #(d* >= 0)+1) / (B+1)")
CORRECTED_T = ("corrected repeated-CV t-test (Nadeau & Bengio 2003; Bouckaert & Frank "
               "2004): per-fold differences with seeds averaged within each fold, J = "
               "folds x repetitions, variance x (1/J + n_test/n_train), df = J - 1")
HOLM = "Holm (1979) step-down adjustment over the table's comparisons (family-wise)"
NUM_BOOTSTRAP = 10000


def _counts(rng, b: int, n: int) -> np.ndarray:
  """(b, n) multinomial counts: how often each of n items is drawn in b resamples."""
  return rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)


def bootstrap_means(values, weights, b: int = NUM_BOOTSTRAP, seed: int = 0) -> np.ndarray:
  """(b,) means of `values` (seeds, rows) over resamples of its seeds and of its rows
  (rows with weight 0 are padding and never drawn)."""
  v = np.asarray(values, np.float64)
  rows = np.flatnonzero(np.asarray(weights) > 0)
  v = v[:, rows]
  s, n = v.shape
  rng = np.random.default_rng(seed)
  cs, cr = _counts(rng, b, s), _counts(rng, b, n)
  return np.einsum("bs,sn,bn->b", cs, v, cr) / (s * n)


def two_way_bootstrap(correct, reference, weights, b: int = NUM_BOOTSTRAP,
                      seed: int = 0) -> dict:
  """Paired difference in accuracy of a method and a reference on one split: `correct`
  and `reference` (seeds, rows) 1 where a model classified a row right; `weights` (rows,)
  marks real rows. Returns mean, ci95, p, n_seeds, n_rows and the method."""
  d = np.asarray(correct, np.float64) - np.asarray(reference, np.float64)
  rows = np.asarray(weights) > 0
  mean = float(d[:, rows].mean())
  boot = bootstrap_means(d, weights, b, seed)
  below, above = int((boot <= 0).sum()), int((boot >= 0).sum())
  p = min(1.0, 2.0 * min(below + 1, above + 1) / (b + 1))
  low, high = np.percentile(boot, [2.5, 97.5])
  return {"mean": mean, "ci95": [float(low), float(high)], "p": p,
          "n_seeds": int(d.shape[0]), "n_rows": int(rows.sum()),
          "method": BOOTSTRAP.format(B=b)}


def bootstrap_interval(correct, weights, b: int = NUM_BOOTSTRAP, seed: int = 0) -> list:
  """95% percentile interval of the accuracy over seeds x test rows (one split)."""
  boot = bootstrap_means(correct, weights, b, seed)
  return [float(x) for x in np.percentile(boot, [2.5, 97.5])]


def corrected_t(fold_diffs, test_train_ratio: float) -> dict:
  """The corrected repeated-CV t-test of J per-fold differences (seeds averaged within
  each fold). Returns mean, std, ci95, t, p, n (= J), the ratio and the method; p and t
  are NaN when fewer than two folds or zero spread leave no test."""
  d = np.asarray(fold_diffs, np.float64).ravel()
  d = d[np.isfinite(d)]
  j = d.size
  out = {"mean": float(d.mean()) if j else float("nan"), "n": j, "method": CORRECTED_T,
         "test_train_ratio": float(test_train_ratio)}
  std = float(d.std(ddof=1)) if j > 1 else 0.0
  se = math.sqrt((1.0 / j + test_train_ratio) * std ** 2) if j > 1 else 0.0
  if se == 0.0:
    return {**out, "std": std, "ci95": [out["mean"], out["mean"]], "t": float("nan"),
            "p": float("nan"), "note": "no test: fewer than two folds or zero spread"}
  t = out["mean"] / se
  half = float(scipy.stats.t.ppf(0.975, j - 1)) * se
  return {**out, "std": std, "ci95": [out["mean"] - half, out["mean"] + half], "t": t,
          "p": float(2.0 * scipy.stats.t.sf(abs(t), j - 1))}


def holm(pvalues) -> np.ndarray:
  """Holm-adjusted p-values, in the input's order; NaN entries stay NaN and do not count
  as comparisons."""
  p = np.asarray(pvalues, np.float64)
  out = np.full(p.shape, np.nan)
  ok = np.flatnonzero(np.isfinite(p))
  m = ok.size
  if not m:
    return out
  order = ok[np.argsort(p[ok], kind="stable")]
  running = 0.0
  for i, idx in enumerate(order):
    running = max(running, min(1.0, (m - i) * p[idx]))
    out[idx] = running
  return out
