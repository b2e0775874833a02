"""Inference time of the Elman RNN at full and pruned widths, structural vs masked.

Structural pruning deletes units (a smaller scan); masked pruning zeroes them and keeps the
full width (the brainwave-music study's way). Prints median milliseconds of one jitted
forward pass over a batch of sequences, and the speed-up over the full width.

    python benchmarks/rnn_inference.py --batch=39 --steps=3000 --widths=50,40,30,25
"""

import argparse

import jax
import jax.numpy as jnp

from eegjax.evaluate.timing import latency_ms
from eegjax.models import ElmanRNN, rnn_from_params
from eegjax.pruning.surgery import drop_units, rnn_hidden_group, zero_units


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--batch", type=int, default=39, help="sequences per forward pass")
  ap.add_argument("--steps", type=int, default=3000, help="time steps per sequence")
  ap.add_argument("--widths", default="50,40,30,25", help="hidden widths, the first = full")
  ap.add_argument("--repeats", type=int, default=20)
  args = ap.parse_args()
  widths = [int(w) for w in args.widths.split(",")]
  full = widths[0]
  model = ElmanRNN(hidden_size=full, num_classes=3)
  x = jax.random.normal(jax.random.key(0), (args.batch, args.steps, 1))
  lengths = jnp.full((args.batch,), args.steps)
  params = model.init(jax.random.key(1), x)
  group = rnn_hidden_group()
  print(f"devices {jax.devices()}; batch {args.batch} x {args.steps} steps; "
        f"median of {args.repeats}")
  print(f"{'units':>5} {'structural ms':>14} {'masked ms':>10} {'structural speed-up':>20}")
  base = None
  for w in widths:
    drop = list(range(w, full))
    small = drop_units(params, group, drop)
    masked = zero_units(params, group, jnp.arange(full) < w)
    s_fn = jax.jit(lambda p, xx, ll, m=rnn_from_params(small): m.apply(p, xx, lengths=ll))
    m_fn = jax.jit(lambda p, xx, ll: model.apply(p, xx, lengths=ll))
    s_ms = latency_ms(s_fn, small, x, lengths, repeats=args.repeats)
    m_ms = latency_ms(m_fn, masked, x, lengths, repeats=args.repeats)
    base = base or s_ms
    print(f"{w:>5} {s_ms:>14.2f} {m_ms:>10.2f} {base / s_ms:>19.2f}x")


if __name__ == "__main__":
  main()
