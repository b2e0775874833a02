"""Summaries over runs: mean, sample std and a two-sided 95% Student-t confidence interval.

Caveat written into every results file: cross-validation folds share training data, so
runs are not independent and the interval is optimistic (too narrow).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

CI_NOTE = ("95% t-interval over seeds x folds treated as independent runs; folds share "
           "training data, so it is optimistic")


def t_quantile(p: float, df: int) -> float:
  """Upper quantile t_{p, df} (p > 0.5); e.g. t_quantile(0.975, 9) = 2.262."""
  return float(scipy.stats.t.ppf(p, df))


def summarize(values) -> dict:
  """mean, std (ddof=1), ci95 = [low, high], n for a 1-D set of run values."""
  v = np.asarray(values, np.float64).ravel()
  n = v.size
  mean = float(v.mean()) if n else float("nan")
  if n < 2:
    return {"mean": mean, "std": 0.0, "ci95": [mean, mean], "n": n}
  std = float(v.std(ddof=1))
  half = t_quantile(0.975, n - 1) * std / math.sqrt(n)
  return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}
