"""N pruned variants fine-tuned side by side against one at a time.

The main job's network and data (scp1, 150 trial features, a 30-unit sigmoid MLP; 10-fold
cross-validation, one seed: 10 models per variant): N masked variants (a random half of the
hidden units pruned in each model; eegjax.models.masked) are fine-tuned --epochs epochs
through the training driver, once as one vmapped program over the N x 10 models (what
prune_mlp's finetune / scratch regimes do) and once as N programs of 10 models, one after
another (the same compiled program each time: compile counted once, as a loop would). Wall
seconds of each, compile included and apart, and their ratio.

    python benchmarks/variants.py [--variants=1,4,12,36] [--epochs=30]
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)   # as the binaries: a device a core
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from eegjax.data import DataSpec  # noqa: E402
from eegjax.models.masked import Masked, masked_variables  # noqa: E402
from eegjax.pruning import zero_units  # noqa: E402
from eegjax.pruning.discover import Program  # noqa: E402
from eegjax.run.workdir import Workdir  # noqa: E402
from eegjax.studies.common import classifier  # noqa: E402
from eegjax.studies.common.classifier import ClassifyConfig  # noqa: E402
from eegjax.train import TrainConfig, Trainer  # noqa: E402


def variants(prep, group, n: int, base):
  """n (F, S, ...) masked variable trees of `base`, each model with its own random half of
  the hidden units pruned."""
  f, s = len(prep.parts), len(prep.seeds)
  rng = np.random.default_rng(0)
  out = []
  ones = jax.tree.map(lambda a: jnp.ones_like(a[0, 0]), base["params"])
  for _ in range(n):
    alive = np.zeros((f, s, 30), bool)
    for i in range(f):
      for j in range(s):
        alive[i, j, rng.choice(30, 15, replace=False)] = True
    mask = jax.vmap(jax.vmap(lambda a: zero_units({"params": ones}, group, a)["params"]))(
        jnp.asarray(alive))
    out.append(masked_variables(base, mask))
  return out


def fit(trainer, prep, state, seeds):
  t0 = time.perf_counter()
  run = trainer.fit(seeds, prep.folds, prep.data, state=state, log=lambda m: None)
  jax.block_until_ready(jax.tree.leaves(run.params))
  return time.perf_counter() - t0, run.compile_s


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--variants", default="1,4,12,36")
  ap.add_argument("--epochs", type=int, default=30)
  args = ap.parse_args()
  cfg = ClassifyConfig(model="mlp", data=DataSpec(dataset="scp1"), hidden_sizes=(30,),
                       train=TrainConfig(epochs=args.epochs, batch_size=32,
                                         learning_rate=0.01),
                       split="kfold", num_folds=10, num_seeds=1,
                       workdir=tempfile.mkdtemp(prefix="eegjax_bench_"))
  wd = Workdir(cfg.workdir, echo=False)
  prep = classifier.prepare(cfg, wd)
  x = prep.data[0][:2]
  program = Program(prep.model.apply, prep.model.init(jax.random.key(0), x), x)
  group = [g for g in program.groups if g.prunable][0]
  base = Trainer(prep.model, cfg.train, has_val=False).init(prep.seeds, prep.folds, prep.data)
  base = jax.tree.map(np.asarray, base.params)
  models = len(prep.parts) * len(prep.seeds)
  print(f"backend {jax.default_backend()} ({jax.device_count()} devices), scp1 MLP 150-30-2, "
        f"{models} models per variant, {args.epochs} epochs")
  print(f"{'variants':>8s} {'together s':>11s} {'(compile)':>10s} {'one at a time s':>16s} "
        f"{'(compile)':>10s} {'ratio':>6s}")
  for n in [int(v) for v in args.variants.split(",")]:
    vs = variants(prep, group, n, base)
    cat = jax.tree.map(lambda *a: np.concatenate(a, axis=1), *vs)
    seeds = list(prep.seeds) * n
    trainer = Trainer(Masked(prep.model), cfg.train, has_val=False, num_devices=jax.device_count())
    together, c_together = fit(trainer, dataclasses.replace(prep, seeds=seeds),
                               trainer.start_from(cat), seeds)
    one = Trainer(Masked(prep.model), cfg.train, has_val=False, num_devices=jax.device_count())
    alone, c_alone = 0.0, 0.0
    for v in vs:
      s, c = fit(one, prep, one.start_from(v), list(prep.seeds))
      alone, c_alone = alone + s, c_alone + c
    print(f"{n:8d} {together:11.2f} {c_together:10.2f} {alone:16.2f} {c_alone:10.2f} "
          f"{alone / together:6.2f}")


if __name__ == "__main__":
  main()
