"""How fast the pruning engine prunes the models people bring, beside Torch-Pruning.

    python benchmarks/engine.py [--models=resnet18,resnet50,vit_b16,gpt2] [--ratio=0.3]
                                [--criterion=magnitude] [--compensation=none]
                                [--repeats=5] [--torch=auto]

For each of `eegjax.models.zoo`'s models at its real width (ResNet-18, ResNet-50, ViT-B/16 on
one 224 x 224 image; GPT-2 small on 128 tokens), randomly initialised: `pruning.prune_to`
with `ratio` of every prunable group (the output layer is an output; heads prune whole),
timed whole (`--repeats` calls, the median and range; every compile the pruning does is
inside) with its phases' medians (trace: the traced program and its groups; score: every
group's statistics and removal order; cut: the widths and the surgery); then, apart, the
XLA compile of the pruned model for inference (what any JAX model pays before its first
call, pruned or not; eager PyTorch pays none), parameters and multiply-adds per example
before and after, one example's inference before and after (jitted; the two sizes timed in
turn, 7 rounds of 5 calls, the median of the round medians, so load on the machine falls on
both alike), and how far the pruned model's output is from the original's with the removed
units zeroed (the largest difference over the largest output: float rounding where the cut
is exact; the residual stream of a pre-LayerNorm transformer, whose LayerNorm then averages
over fewer features, is the approximation this measures). With torch and torch-pruning
installed (`pip install -e ".[torch-bench]"`; `--torch=no` skips), the same architectures
written in PyTorch (`torch_twins.py`) go through Torch-Pruning's MetaPruner with
GroupMagnitudeImportance at the same ratio, its heads pruned whole (`num_heads`,
`prune_num_heads`), each pruning taken in turn with eegjax's on a freshly built twin: graph
and prune seconds, the counts Torch-Pruning's own `count_ops_and_params` gives, and eager
inference before and after. Nothing is downloaded."""

import argparse
import copy
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

from eegjax import pruning
from eegjax.models import zoo

MODELS = {"resnet18": zoo.resnet18, "resnet50": zoo.resnet50, "vit_b16": zoo.ViT,
          "gpt2": zoo.GPT2}


def _inputs(name, n):
  if name == "gpt2":
    return jax.random.randint(jax.random.key(2), (n, 128), 0, 50257)
  return jax.random.normal(jax.random.key(2), (n, 224, 224, 3))


def _in_turn(fns, rounds=7, calls=5):
  """Median over rounds of each function's median call, the functions timed in turn."""
  per = [[] for _ in fns]
  for _ in range(rounds):
    for f, out in zip(fns, per):
      ts = []
      for _ in range(calls):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
      out.append(statistics.median(ts))
  return [statistics.median(p) for p in per]


def eegjax_model(name):
  model, x = MODELS[name](), _inputs(name, 2)
  return model, jax.block_until_ready(jax.jit(model.init)(jax.random.key(1), x)), x


def eegjax_prune(model, params, x, ratio, criterion, compensation):
  """One `prune_to` call, timed whole: every compile the pruning itself does is inside."""
  t = time.perf_counter()
  small, report = pruning.prune_to(model.apply, params, x, ratio=ratio, criterion=criterion,
                                   compensation=compensation)
  return small, report, time.perf_counter() - t


def eegjax_after(model, params, x, small, report):
  """The pruned model compiled for inference (what any JAX model pays before its first
  call, pruned or not), one example's inference before and after, the pruned-vs-zeroed
  error, the counts."""
  one = x[:1]
  t = time.perf_counter()
  pruned = jax.jit(report.apply).lower(small, one).compile()
  compile_s = time.perf_counter() - t
  full = jax.jit(model.apply).lower(params, one).compile()
  before, after = _in_turn([lambda: full(params, one).block_until_ready(),
                            lambda: pruned(small, one).block_until_ready()])
  want = full(report.zeroed(params), one)
  error = float(jnp.abs(pruned(small, one) - want).max() / jnp.abs(want).max())
  return {"error": error, "compile_s": compile_s,
          "params": (report.before.params, report.after.params),
          "macs": (report.before.macs, report.after.macs), "infer_ms": (before * 1e3,
                                                                         after * 1e3),
          "heads": [f"{g['units_before']}->{g['units_after']}" for n, g in
                    report.groups.items() if n.endswith(".heads")][:1]}


def torch_prune(name, ratio):
  """Torch-Pruning's MetaPruner on a freshly built twin (built and copied untimed):
  (the unpruned copy, the pruned model, its input, graph s, prune s)."""
  import torch
  import torch_pruning as tp
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import torch_twins
  torch.manual_seed(0)
  model, x, ignored, heads = torch_twins.build(name)
  full = copy.deepcopy(model)
  imp = (tp.importance.GroupMagnitudeImportance(p=2)
         if hasattr(tp.importance, "GroupMagnitudeImportance")
         else tp.importance.MagnitudeImportance(p=2))
  t = time.perf_counter()
  pruner = tp.pruner.MetaPruner(model, x, importance=imp, pruning_ratio=ratio,
                                ignored_layers=ignored, num_heads=heads,
                                prune_num_heads=bool(heads), prune_head_dims=False,
                                head_pruning_ratio=ratio)
  graph_s = time.perf_counter() - t
  t = time.perf_counter()
  pruner.step()
  return full, model, x, graph_s, time.perf_counter() - t


def torch_after(full, model, x):
  """Torch-Pruning's own counts before and after, eager inference before and after."""
  import torch
  import torch_pruning as tp
  macs0, params0 = tp.utils.count_ops_and_params(full, x)
  macs1, params1 = tp.utils.count_ops_and_params(model, x)
  with torch.no_grad():
    before, after = _in_turn([lambda: full(x), lambda: model(x)])
  return {"params": (params0, params1), "macs": (macs0, macs1),
          "infer_ms": (before * 1e3, after * 1e3)}


def _row(name, tool, r, prune, compile_s):
  p0, p1 = r["params"]
  m0, m1 = r["macs"]
  i0, i1 = r["infer_ms"]
  error = f"{r['error']:.1e}" if "error" in r else ""
  return (f"| {name} | {tool} | {prune} | {compile_s} | {p0 / 1e6:.2f}M -> {p1 / 1e6:.2f}M | "
          f"{m0 / 1e9:.2f}G -> {m1 / 1e9:.2f}G | {i0:.1f} -> {i1:.1f} ms | {error} |")


def _median_range(xs):
  return f"**{statistics.median(xs):.2f}** ({min(xs):.2f}-{max(xs):.2f})"


def bench(name, a, use_torch):
  """`a.repeats` prunings of one model by each pruner, taken in turn so load on the machine
  falls on both alike; then the pruned models' compile, inference and error once."""
  model, params, x = eegjax_model(name)
  walls, phases, graph, prune = [], [], [], []
  for _ in range(a.repeats):
    small, report, wall = eegjax_prune(model, params, x, a.ratio, a.criterion,
                                       a.compensation)
    walls.append(wall)
    phases.append(report.seconds)
    if use_torch:
      full, pruned, tx, g, p = torch_prune(name, a.ratio)
      graph.append(g)
      prune.append(p)
  r = eegjax_after(model, params, x, small, report)
  ph = {k: statistics.median(s[k] for s in phases) for k in ("trace", "score", "cut")}
  print(_row(name, "eegjax " + (f"(heads {r['heads'][0]})" if r["heads"] else ""), r,
             f"{_median_range(walls)}: trace {ph['trace']:.2f}, score {ph['score']:.2f}, "
             f"cut {ph['cut']:.2f}", f"{r['compile_s']:.2f}"), flush=True)
  if use_torch:
    t = torch_after(full, pruned, tx)
    print(_row(name, "Torch-Pruning", t,
               f"{_median_range([g + p for g, p in zip(graph, prune)])}: graph "
               f"{statistics.median(graph):.2f}, prune {statistics.median(prune):.2f}",
               "none (eager)"), flush=True)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--models", default="resnet18,resnet50,vit_b16,gpt2")
  ap.add_argument("--ratio", type=float, default=0.3)
  ap.add_argument("--criterion", default="magnitude")
  ap.add_argument("--compensation", default="none")
  ap.add_argument("--repeats", type=int, default=5,
                  help="prunings of each model by each pruner, in turn; the median is shown")
  ap.add_argument("--torch", choices=("auto", "yes", "no"), default="auto")
  a = ap.parse_args(argv)
  if a.repeats < 1:
    raise SystemExit(f"--repeats={a.repeats}: expected a count of at least 1")
  use_torch = a.torch != "no"
  if use_torch:
    try:
      import torch
      import torch_pruning  # noqa: F401
      torch.set_num_threads(os.cpu_count())
    except ImportError as e:
      if a.torch == "yes":
        raise SystemExit(f"--torch=yes: {e}; pip install -e '.[torch-bench]'")
      use_torch = False
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
        f"ratio {a.ratio} of every prunable group; eegjax criterion {a.criterion}, "
        f"compensation {a.compensation}; {a.repeats} prunings each, in turn")
  print("| model | pruner | seconds to prune: median (range); phases | compile of the pruned "
        "model, s | parameters | multiply-adds | inference, 1 example | pruned vs zeroed |")
  print("|---|---|---|---|---|---|---|---|")
  for name in a.models.split(","):
    if name not in MODELS:
      raise SystemExit(f"--models: {name!r} is not one of {sorted(MODELS)}")
    bench(name, a, use_torch)


if __name__ == "__main__":
  main()
