"""Summaries over runs: mean, sample std and a two-sided 95% Student-t confidence interval.

Caveat written into every results file: cross-validation folds share training data, so
runs are not independent and the interval is optimistic (too narrow).
"""

from __future__ import annotations

import math

import numpy as np

CI_NOTE = ("95% t-interval over seeds x folds treated as independent runs; folds share "
           "training data, so it is optimistic")


def _t_cdf(t: float, df: int) -> float:
  """Student-t CDF for t >= 0 by Simpson integration of the density (float64)."""
  c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
  xs = np.linspace(0.0, t, 4001)
  pdf = c * (1 + xs ** 2 / df) ** (-(df + 1) / 2)
  h = xs[1] - xs[0]
  integral = h / 3 * (pdf[0] + pdf[-1] + 4 * pdf[1:-1:2].sum() + 2 * pdf[2:-1:2].sum())
  return 0.5 + integral


def t_quantile(p: float, df: int) -> float:
  """Upper quantile t_{p, df} (p > 0.5) by bisection; e.g. t_quantile(0.975, 9) = 2.262."""
  lo, hi = 0.0, 1.0
  while _t_cdf(hi, df) < p:
    hi *= 2.0
  for _ in range(60):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
  return 0.5 * (lo + hi)


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
