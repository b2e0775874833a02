"""Summaries over runs: mean, sample std and a two-sided 95% Student-t confidence interval
(kept inside [0, 1] for proportions such as accuracy). Paired comparisons of two methods
live in `eegjax.evaluate.stats` (the test that fits the protocol).

Caveat written into every results file: cross-validation folds share training data, so
runs are not independent and the independent-runs interval is optimistic (too narrow); on
one given split it leaves out the test rows' sampling (the pruning study then gives the
two-way bootstrap's interval beside it).
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


def summarize_metric(name: str, values) -> dict:
  """`summarize`, with the interval of a proportion (accuracy, F1, ...) kept in [0, 1]."""
  return summarize(values, bounds=(0.0, 1.0) if name in PROPORTIONS else None)
