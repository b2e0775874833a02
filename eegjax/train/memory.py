"""Will a sweep fit? An estimate, made before anything is compiled, of the memory a
vmapped training sweep needs, and a one-line refusal of one that cannot fit (rather than a
machine that swaps for an hour, or an allocator's traceback after the compile).

The estimate is deliberately generous (measured on a 2-core CPU, a 25-30-3 MLP over 576
rows used about 240 KB per model; the estimate says about 400 KB): per model, 4-byte floats
for its parameters six times over (weights, gradients, Adam's two moments, the best epoch's
copy, the update); per model in flight, its scaled copies of the data rows it reads
(training, validation and test parts) and the activations of the larger of a training and
an evaluation batch forward and backward; the data once. Every model is in flight in the
vmapped layout; one at a time in the loop layout (conv nets on a CPU, `fit.Trainer`).
"""

from __future__ import annotations

import math
import os

import jax

FLOAT = 4


def estimate_bytes(*, num_models: int, num_params: int, num_rows: int, row_floats: int,
                   batch: int, eval_batch: int, width: int,
                   in_flight: int | None = None) -> int:
  """Bytes a sweep of `num_models` needs: `num_params` per model, `num_rows` rows of
  `row_floats` values (a sequence row: time x channels), `width` activations per row and
  layer summed over the layers (a sequence model: times the steps); `in_flight` models
  (default all) computing at once."""
  in_flight = num_models if in_flight is None else min(in_flight, num_models)
  working = 3 * num_rows * row_floats + 3 * max(batch, eval_batch) * width
  return FLOAT * (num_models * 6 * num_params + in_flight * working + num_rows * row_floats)


def available_bytes() -> int | None:
  """Memory the sweep may use: on a CPU the host's available memory (/proc/meminfo
  MemAvailable); on accelerators the free memory summed over the devices. None when it
  cannot be told."""
  devices = jax.devices()
  if devices[0].platform != "cpu":
    free = 0
    for d in devices:
      stats = d.memory_stats() or {}
      if "bytes_limit" not in stats:
        return None
      free += stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    return free
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  try:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (ValueError, OSError, AttributeError):
    return None


def gib(n: float) -> str:
  return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 27 else f"{n / 2 ** 20:.0f} MiB"


def describe(need: int, have: int | None) -> str:
  return (f"about {gib(need)} of memory" +
          (f" ({gib(have)} available)" if have is not None else ""))


def fits(need: int, have: int | None) -> bool:
  return have is None or need <= have


def check_sweep(model, data, num_models: int, batch: int, eval_batch: int,
                in_flight: int | None = None) -> tuple[int, int | None]:
  """(bytes needed, bytes available) for `num_models` copies of `model` training on
  `data` (x, y, lengths), `in_flight` of them at once (default all: the vmapped layout);
  the activations per row are read from the parameters' bias widths (times the steps of a
  sequence model), a conv net's from its layers' outputs."""
  x, _, lengths = data
  example = (x[:2],) if lengths is None else (x[:2], lengths[:2])
  shapes = jax.eval_shape(model.init, jax.random.key(0), *example)
  leaves = jax.tree_util.tree_leaves_with_path(shapes)
  num_params = sum(math.prod(a.shape) for _, a in leaves)
  steps = x.shape[1] if x.ndim == 3 else 1
  width = steps * sum(a.shape[-1] for path, a in leaves
                      if "bias" in jax.tree_util.keystr(path))
  if getattr(model, "convolutional", False):
    # a conv net's feature maps, counted from one row's layer outputs
    _, inter = jax.eval_shape(lambda v, x: model.apply(
        v, x, capture_intermediates=True, mutable=["intermediates"]), shapes, x[:1])
    width = sum(math.prod(a.shape) for a in jax.tree.leaves(inter))
  need = estimate_bytes(num_models=num_models, num_params=num_params, num_rows=x.shape[0],
                        row_floats=math.prod(x.shape[1:]), batch=batch,
                        eval_batch=eval_batch, width=width, in_flight=in_flight)
  return need, available_bytes()
