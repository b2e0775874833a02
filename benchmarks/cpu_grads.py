"""One training step of each EEG conv network on the CPU: XLA's own convolution and average
pool gradients against eegjax.models.cpu_grads' (the networks' default on the CPU).

For ShallowConvNet, Deep4 and EEGNet-8,2 sized for scp1's trials (6 electrodes, 896 samples
at 256 Hz; `eegconv.sized_for`, as prune_cnn builds them), a batch of 32: the median wall
ms of the jitted forward pass (inference mode) and of the forward and backward pass of the
training loss (train mode: dropout, BatchNorm's batch statistics), over --repeats calls,
both gradient paths in one sitting, and their ratio. Also the largest difference between
the two paths' gradients, relative to the largest gradient entry (float rounding: the same
sums in another order).

    python benchmarks/cpu_grads.py [--repeats=9] [--batch=32]
"""

import argparse
import os
import sys
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from eegjax.evaluate.timing import latency_ms  # noqa: E402
from eegjax.models import cpu_grads, eegconv  # noqa: E402


def xla_gradients():
  """The networks with XLA's own gradients: cpu_grads' custom-VJP functions replaced by
  their forward pass (which is what they compute forward)."""
  return [mock.patch.object(cpu_grads, "_conv", cpu_grads._forward),
          mock.patch.object(cpu_grads, "_avg_pool",
                            lambda x, w, s: nn.avg_pool(x, w, strides=s))]


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--repeats", type=int, default=9)
  ap.add_argument("--batch", type=int, default=32)
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(args.batch, 896, 6)).astype(np.float32))
  y = jnp.asarray(np.arange(args.batch) % 2)
  print(f"backend {jax.default_backend()}, batch {args.batch}, trials 6 x 896 (scp1), "
        f"median of {args.repeats}")
  print(f"{'network':8s} {'forward ms':>10s} {'train step ms: xla':>19s} {'cpu_grads':>10s} "
        f"{'speed-up':>9s} {'max grad diff':>14s}")
  for name in eegconv.NETWORKS:
    net = eegconv.sized_for(name, 2, 896, 256.0)
    v = net.init({"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}, x)
    rest = {k: w for k, w in v.items() if k != "params"}

    def loss(p, x, y, net=net, rest=rest):
      out, _ = net.apply({**rest, "params": p}, x, train=True, mutable=["batch_stats"],
                         rngs={"dropout": jax.random.PRNGKey(2)})
      return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

    forward = latency_ms(jax.jit(lambda p, x, net=net, rest=rest: net.apply(
        {**rest, "params": p}, x)), v["params"], x, repeats=args.repeats)
    fast_fn = jax.jit(jax.value_and_grad(loss))
    fast = latency_ms(fast_fn, v["params"], x, y, repeats=args.repeats)
    g_fast = fast_fn(v["params"], x, y)[1]
    patches = xla_gradients()
    for p in patches:
      p.start()
    try:
      xla_fn = jax.jit(jax.value_and_grad(loss))
      xla = latency_ms(xla_fn, v["params"], x, y, repeats=args.repeats)
      g_xla = xla_fn(v["params"], x, y)[1]
    finally:
      for p in patches:
        p.stop()
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(g_xla))
    diff = max(float(jnp.abs(a - b).max()) for a, b in
               zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_xla))) / scale
    print(f"{name:8s} {forward:10.1f} {xla:19.1f} {fast:10.1f} {xla / fast:8.2f}x "
          f"{diff:14.1e}")


if __name__ == "__main__":
  main()
