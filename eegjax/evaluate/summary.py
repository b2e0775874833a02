"""Summaries over runs: mean, sample std and a two-sided 95% Student-t confidence interval
(kept inside [0, 1] for proportions such as accuracy), and paired comparisons of two
methods on the same models with the corrected resampled t-test.

Caveat written into every results file: cross-validation folds share training data, so
runs are not independent and the independent-runs interval is optimistic (too narrow); the
paired comparison corrects for it (Nadeau & Bengio 2003).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

CI_NOTE = ("95% t-interval over seeds x folds treated as independent runs; folds share "
           "training data, so it is optimistic; intervals of proportions are clipped to "
           "[0, 1]")


def t_quantile(p: float, df: int) -> float:
  """Upper quantile t_{p, df} (p > 0.5); e.g. t_quantile(0.975, 9) = 2.262."""
  return float(scipy.stats.t.ppf(p, df))


def summarize(values, bounds=None) -> dict:
  """mean, std (ddof=1), ci95 = [low, high], n for a 1-D set of run values; `bounds`
  (low, high): the values' range, which the interval is clipped to."""
  v = np.asarray(values, np.float64).ravel()
  n = v.size
  mean = float(v.mean()) if n else float("nan")
  if n < 2:
    return {"mean": mean, "std": 0.0, "ci95": [mean, mean], "n": n}
  std = float(v.std(ddof=1))
  half = t_quantile(0.975, n - 1) * std / math.sqrt(n)
  low, high = mean - half, mean + half
  if bounds is not None:
    low, high = max(low, bounds[0]), min(high, bounds[1])
  return {"mean": mean, "std": std, "ci95": [low, high], "n": n}

# Metrics that are proportions: their intervals are clipped to [0, 1].
PROPORTIONS = ("accuracy", "precision", "recall", "specificity", "f1", "train_accuracy")
PAIRED_METHOD = ("corrected resampled t-test (Nadeau & Bengio 2003): the variance of the "
                 "per-model differences scaled by 1/J + n_test/n_train, J = models, df = J-1")


def summarize_metric(name: str, values) -> dict:
  """`summarize`, with the interval of a proportion (accuracy, F1, ...) kept in [0, 1]."""
  return summarize(values, bounds=(0.0, 1.0) if name in PROPORTIONS else None)


def paired(diffs, test_train_ratio: float) -> dict:
  """Paired comparison of two methods evaluated on the same J models (same seeds, folds
  and test parts): `diffs` holds each model's difference (method - reference).

  Cross-validation folds share training data, so the differences are correlated and the
  plain paired t-test is too confident. The corrected resampled t-test (Nadeau & Bengio
  2003) scales their variance by (1/J + n_test/n_train) instead of 1/J; with
  `test_train_ratio` 0 it is the plain paired t-test. Returns mean, std, a 95% interval,
  the t statistic, its two-sided p-value, n and the method."""
  d = np.asarray(diffs, np.float64).ravel()
  d = d[np.isfinite(d)]
  j = d.size
  out = {"mean": float(d.mean()) if j else float("nan"), "n": j, "method": PAIRED_METHOD,
         "test_train_ratio": float(test_train_ratio)}
  if j < 2:
    return {**out, "std": 0.0, "ci95": [out["mean"], out["mean"]], "t": float("nan"),
            "p": float("nan")}
  std = float(d.std(ddof=1))
  se = math.sqrt((1.0 / j + test_train_ratio) * std ** 2)
  if se == 0.0:
    t = 0.0 if out["mean"] == 0.0 else math.copysign(math.inf, out["mean"])
    p = 1.0 if out["mean"] == 0.0 else 0.0
  else:
    t = out["mean"] / se
    p = float(2.0 * scipy.stats.t.sf(abs(t), j - 1))
  half = t_quantile(0.975, j - 1) * se
  return {**out, "std": std, "ci95": [out["mean"] - half, out["mean"] + half], "t": t,
          "p": p}
