"""The README's pruning tables, generated from a pruning run's results.json (so a table and
its run cannot drift apart): for each compensation and size, each criterion's test
accuracy and its paired difference from distinctiveness under the same compensation, with
the p-value of the test that fits the run's protocol, raw / Holm-adjusted.

    python benchmarks/prune_table.py --workdir=workdirs/scp1_prune_mlp --sizes=2,6,10,16
"""

import json
import os

from absl import app, flags

flags.DEFINE_string("workdir", None, "a prune_mlp.py / prune_rnn.py workdir")
flags.DEFINE_list("sizes", [], "units pruned to show (default: every size)")
FLAGS = flags.FLAGS


def table(res: dict, sizes: list[int]) -> str:
  pruning = res["pruning"]
  paired = pruning["paired_vs_distinctiveness"]["metrics"]
  variants = pruning["criteria"]
  crits = list(dict.fromkeys(v.split("/")[0] for v in variants))
  comps = list(dict.fromkeys(v.split("/")[1] for v in variants))
  every = sorted({s["units_pruned"] for v in variants.values() for s in v["steps"]})
  sizes = sizes or every
  lines = ["| compensation | units pruned | " + " | ".join(crits) + " |",
           "|" + "---|" * (2 + len(crits))]
  for comp in comps:
    for n in sizes:
      cells = []
      for crit in crits:
        v = f"{crit}/{comp}"
        step = next((s for s in variants.get(v, {}).get("steps", [])
                     if s["units_pruned"] == n), None)
        if step is None:
          cells.append("")
          continue
        acc = step["summary"]["accuracy"]["mean"]
        d = next((d["accuracy"] for d in paired.get(v, []) if d["units_pruned"] == n), None)
        if d is None:
          cells.append(f"**{acc:.3f}**")
        else:
          p = "n/a" if d["p"] != d["p"] else f"{d['p']:.2g} / {d['p_holm']:.2g}"
          cells.append(f"{acc:.3f} ({d['mean']:+.3f}, p {p})")
      lines.append(f"| {comp} | {n} | " + " | ".join(cells) + " |")
  method = pruning["paired_vs_distinctiveness"]["method"]
  lines += ["", f"p: {method}; raw / Holm over the run's {sum(map(len, paired.values()))} "
            "comparisons."]
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  with open(os.path.join(FLAGS.workdir, "results.json"), encoding="utf-8") as f:
    res = json.load(f)
  print(table(res, [int(s) for s in FLAGS.sizes]))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
