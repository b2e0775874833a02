"""What pruning buys at inference: each EEG conv network, sized for each built-in set's
trials, unpruned and with 25% and 50% of every filter group cut, in one sitting.

    python benchmarks/pruned_cnn.py [--sets=scp1,scp2,finger,eyes] [--rounds=10]

For each (network, set): trainable parameters and multiply-adds per trial (counted from
the traced program) and one model's jitted inference on 64 trials, through the
`pruned_costs` prune_cnn's results use (`eegjax.studies.prune_cnn.study`): the three sizes
are timed in turn, `--rounds` rounds of `--repeats` calls each, so a spell of load on this
shared machine falls on all three alike; each size's time is the median of its round
medians, and the speedup is against the unpruned network. Costs depend on the shapes
alone, so the networks are freshly initialised (no training) and the trials are the set's
first 64 (min-max scaled per channel, as the studies scale them). prune_cnn times its
networks the same way with fewer calls (5 rounds of 2), once, at the end of its run and
beside whatever else the machine runs; runs made on earlier code timed each size alone.
Prints a table; `--out` also writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from eegjax.data.preprocess import fit_minmax  # noqa: E402
from eegjax.data.registry import DataSpec, load  # noqa: E402
from eegjax.models.eegconv import NETWORKS, sized_for  # noqa: E402
from eegjax.pruning import discover_groups, resized_apply  # noqa: E402
from eegjax.studies.prune_cnn.study import TIMING_ROWS, pruned_costs  # noqa: E402

SETS = ("scp1", "scp2", "finger", "eyes")
PERCENTS = (25, 50)


def trials(name: str):
  """The set's first TIMING_ROWS trials, min-max scaled per channel as the studies scale
  their inputs, and its sampling rate."""
  ds = load(DataSpec(dataset=name))
  rows = np.arange(min(TIMING_ROWS, ds.num_examples))
  x = fit_minmax(ds.x, rows).apply(np.asarray(ds.x)[rows])
  return jnp.asarray(x, jnp.float32), ds.num_classes, ds.info.sampling_rate


def measure(network: str, name: str, rounds: int, repeats: int) -> dict:
  x, num_classes, rate = trials(name)
  model = sized_for(network, num_classes, x.shape[1], rate)
  variables = model.init(jax.random.PRNGKey(0), x[:2])
  run = resized_apply(model.apply, variables, x[:2])
  groups = [g for g in discover_groups(model.apply, variables, x[:2]) if g.prunable]
  return pruned_costs(run, jax.jit(run), groups, variables, x, PERCENTS, rounds=rounds,
                      repeats=repeats)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--sets", default=",".join(SETS))
  ap.add_argument("--networks", default=",".join(NETWORKS))
  ap.add_argument("--rounds", type=int, default=10)
  ap.add_argument("--repeats", type=int, default=5, help="calls per size and round")
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  sets = [s for s in args.sets.split(",") if s]
  networks = [n for n in args.networks.split(",") if n]
  for s in sets:
    if s not in SETS:
      raise SystemExit(f"--sets: {s!r}; expected some of {','.join(SETS)}")
  for n in networks:
    if n not in NETWORKS:
      raise SystemExit(f"--networks: {n!r}; expected some of {','.join(NETWORKS)}")
  t0 = time.perf_counter()
  ms_key = f"inference_ms_batch_{TIMING_ROWS}"
  out = {}
  print(f"| network | set | pruned | parameters | multiply-adds / trial | "
        f"inference ms ({TIMING_ROWS} trials) | speedup |")
  print("|---|---|---|---|---|---|---|")
  for name in sets:
    for network in networks:
      res = measure(network, name, args.rounds, args.repeats)
      out[f"{network}/{name}"] = res
      base = res["unpruned"][ms_key]
      for pct, r in res.items():
        print(f"| {network} | {name} | {pct} | {r['params']:,} | {r['macs_per_trial']:,} | "
              f"{r[ms_key]:.1f} | {base / r[ms_key]:.2f}x |", flush=True)
  print(f"({jax.devices()[0].platform}, medians of {args.rounds} rounds x {args.repeats} "
        f"calls, "
        f"{time.perf_counter() - t0:.0f} s in all)")
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump(out, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
