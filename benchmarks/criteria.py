"""Does distinctiveness win? The MLP pruning study on every built-in real EEG set, on the
data's official train / test split, every criterion under every compensation, many seeds:
one table.

For each dataset (scp1, eyes, finger, scp2) it runs experiments/prune_mlp.py (a fresh
process; rerunning resumes) with --split=official: each seed's MLP is trained on the
official training file (its best epoch chosen on a validation part carved from it) and
tested on the official test file as given, then pruned under every criterion x
compensation. A criterion only chooses which unit goes; the compensation (none, mean,
least_squares, merge) says what becomes of its contribution and is the same for every
criterion in a row, so each cell differs from distinctiveness's only in the choice. The
table gives the unpruned test accuracy beside the published test-split figure cited for
the data, and at 10%, 25% and 50% of the hidden units pruned each variant's test
accuracy, its paired difference from distinctiveness under the same compensation on the
same networks and test rows, and the p-value of the two-way bootstrap over seeds x test
rows (one given split), raw and Holm-adjusted over every comparison in the table.

    python benchmarks/criteria.py --workdir=workdirs/criteria

Writes <workdir>/criteria_table.md, criteria_table.csv and criteria.json (and each
dataset's prune_mlp workdir, with its predictions.npz, under <workdir>/<dataset>).
"""

import csv
import json
import os
import subprocess
import sys
import time

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from eegjax.data.registry import PUBLISHED  # noqa: E402
from eegjax.evaluate import stats  # noqa: E402
from eegjax.evaluate.prune_tables import (CRITERIA_HEADER, criteria_markdown,  # noqa: E402
                                          criteria_rows, holm_adjust)
from eegjax.pruning import compensation, criteria  # noqa: E402


flags.DEFINE_list("datasets", list(PUBLISHED), "built-in real EEG sets to run")
flags.DEFINE_list("criteria", criteria.names(), "criteria compared (distinctiveness first: "
                  "the paired reference)")
flags.DEFINE_list("compensation", list(compensation.COMPENSATIONS), "compensations, each "
                  "applied to every criterion")
flags.DEFINE_integer("num_seeds", 10, "seeds (networks) per dataset")
flags.DEFINE_integer("hidden", 40, "hidden units of the MLP (pruned up to half)")
flags.DEFINE_integer("epochs", 300, "training epochs (best epoch on the validation part)")
flags.DEFINE_float("learning_rate", 0.003, "Adam learning rate")
flags.DEFINE_float("val_fraction", 0.2, "validation part of the official training file")
flags.DEFINE_string("workdir", "workdirs/criteria", "where the runs and the table go")
FLAGS = flags.FLAGS


def run_dataset(name: str) -> dict:
  wd = os.path.join(FLAGS.workdir, name)
  cmd = [sys.executable, os.path.join(REPO, "experiments", "prune_mlp.py"),
         f"--dataset={name}", "--split=official", f"--num_seeds={FLAGS.num_seeds}",
         f"--hidden_sizes={FLAGS.hidden}", f"--epochs={FLAGS.epochs}",
         f"--learning_rate={FLAGS.learning_rate}", f"--val_fraction={FLAGS.val_fraction}",
         "--prune_step=2", f"--max_pruned={FLAGS.hidden // 2}", "--beyond_thresholds",
         f"--criteria={','.join(FLAGS.criteria)}",
         f"--compensation={','.join(FLAGS.compensation)}", f"--workdir={wd}"]
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
  if proc.returncode:
    raise SystemExit(f"{name}: prune_mlp.py failed:\n{proc.stderr[-3000:]}")
  with open(os.path.join(wd, "results.json"), encoding="utf-8") as f:
    res = json.load(f)
  res["wall_s"] = time.perf_counter() - t0
  return res


def main(argv):
  del argv
  for comp in FLAGS.compensation:
    compensation.check(comp)
  if FLAGS.criteria[0] != "distinctiveness":
    raise SystemExit("--criteria: distinctiveness must come first (the paired reference)")
  os.makedirs(FLAGS.workdir, exist_ok=True)
  t0 = time.perf_counter()
  all_rows, runs = [], {}
  for name in FLAGS.datasets:
    if name not in PUBLISHED:
      raise SystemExit(f"--datasets: {name!r} is not one of {list(PUBLISHED)}")
    res = run_dataset(name)
    runs[name] = {"wall_s": res["wall_s"], "unpruned_accuracy": res["summary"]["accuracy"],
                  "data": res["dataset"]["data"], "protocol": res["protocol"]}
    all_rows += criteria_rows(name, res, PUBLISHED[name])
    print(f"{name}: done in {res['wall_s']:.0f}s, unpruned test accuracy "
          f"{res['summary']['accuracy']['mean']:.3f}", flush=True)
  holm_adjust(all_rows)
  with open(os.path.join(FLAGS.workdir, "criteria_table.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, CRITERIA_HEADER)
    writer.writeheader()
    writer.writerows(all_rows)
  with open(os.path.join(FLAGS.workdir, "criteria_table.md"), "w", encoding="utf-8") as f:
    f.write(criteria_markdown(all_rows))
  with open(os.path.join(FLAGS.workdir, "criteria.json"), "w", encoding="utf-8") as f:
    json.dump({"runs": runs, "rows": all_rows,
               "seeds": FLAGS.num_seeds, "hidden": FLAGS.hidden, "epochs": FLAGS.epochs,
               "paired_test": stats.BOOTSTRAP.format(B=stats.NUM_BOOTSTRAP),
               "multiple_comparisons": stats.HOLM + " (every comparison in this table)",
               "total_s": time.perf_counter() - t0}, f, indent=1)
  print(criteria_markdown(all_rows))
  print(f"total {time.perf_counter() - t0:.0f}s; wrote {FLAGS.workdir}/criteria_table.md")


if __name__ == "__main__":
  app.run(main)
