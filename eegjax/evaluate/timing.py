"""Wall-clock helpers: inference latency of a compiled function (median of repeats)."""

from __future__ import annotations

import time

import jax
import numpy as np


def latency_ms(fn, *args, repeats: int = 30, warmup: int = 3) -> float:
  """Median milliseconds of `fn(*args)` (already jitted or not) after warm-up calls."""
  for _ in range(warmup):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return float(np.median(times) * 1e3)
