"""The tables of docs/*.md, generated from the runs' results files, so a table and the run it
reports cannot drift apart. A generated table sits between two markers naming its kind and
its run's workdir:

    <!-- table: prune workdirs/scp1_prune_mlp sizes=2,6,10,16 -->
    ...
    <!-- /table -->

    python docs/tables.py            # rewrites every table from its workdir
    python docs/tables.py --check    # exit 1 naming each table that differs from its run

Kinds: `prune` (a prune_mlp / prune_rnn run: `eegjax.evaluate.prune_tables.results_markdown`),
`criteria` (benchmarks/criteria.py's runs, one dataset's rows, Holm over the whole table:
`prune_tables.criteria_rows`), `alcohol` (a classify_alcohol / compress_alcohol run: its
approaches from results.json, their timings from timing.json). A table whose workdir is
not on this machine is left as it is and reported. Run from the repository root.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from eegjax.data.registry import PUBLISHED  # noqa: E402
from eegjax.evaluate import prune_tables  # noqa: E402

MARK = re.compile(r"(<!-- table: (\w+) (\S+)((?: \w+=\S+)*) -->\n)(.*?)(<!-- /table -->)",
                  re.S)


def _json(workdir: str, name: str = "results.json") -> dict:
  with open(os.path.join(REPO, workdir, name), encoding="utf-8") as f:
    return json.load(f)


def prune(workdir: str, sizes: str = "") -> str:
  return prune_tables.results_markdown(_json(workdir),
                                       [int(s) for s in sizes.split(",") if s])


def criteria(workdir: str, dataset: str = "scp1") -> str:
  """The rows of `dataset` (or all) from benchmarks/criteria.py's runs under `workdir`, p-values
  Holm-adjusted over every comparison of every dataset's run (as the benchmark's table)."""
  runs = {os.path.basename(os.path.dirname(p)): json.load(open(p, encoding="utf-8"))
          for p in sorted(glob.glob(os.path.join(REPO, workdir, "*", "results.json")))}
  rows = [r for name, res in runs.items() for r in prune_tables.criteria_rows(name, res, PUBLISHED[name])]
  prune_tables.holm_adjust(rows)
  return prune_tables.criteria_markdown([r for r in rows
                                         if dataset in ("all", r["dataset"])])


def alcohol(workdir: str) -> str:
  """Each approach: its network, test metrics (mean, 95% interval), parameters, inputs per
  trial, the sweep's training seconds, the extra seconds (autoencoder; pruning) and one
  model's inference time on a batch."""
  res, timing = _json(workdir), _json(workdir, "timing.json")
  lines = ["| approach | network | accuracy (95% CI) | precision | recall | F1 | parameters "
           "| inputs / trial | training s (sweep) | extra s | inference ms |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for name, a in res["approaches"].items():
    s, t = a["summary"], timing[name]
    acc = s["accuracy"]
    extra = f"{t['extra_s']:.1f} ({t['extra'].split(':')[0]})" if t.get("extra") else "-"
    lines.append(
        f"| {name} | {a['description']} | {acc['mean']:.3f} ({acc['ci95'][0]:.3f}-"
        f"{acc['ci95'][1]:.3f}) | {s['precision']['mean']:.3f} | {s['recall']['mean']:.3f} "
        f"| {s['f1']['mean']:.3f} | {a['num_params']} | {a['input_floats_per_trial']} | "
        f"{t['train_s']:.2f} | {extra} | {t['inference_ms']:.3f} ({t['inference_batch']} "
        "trials) |")
  data = res["dataset"]
  lines += ["", f"Data: {data['name']} ({'real' if data['real'] else 'synthetic'}); "
            f"{len(res['protocol']['seeds'])} seed(s), split {res['protocol']['split']}. "
            f"{res['ci_note']}."]
  return "\n".join(lines) + "\n"


KINDS = {"prune": prune, "criteria": criteria, "alcohol": alcohol}


def render(text: str, missing: list) -> str:
  def one(m):
    head, kind, workdir, args, body, tail = m.groups()
    if kind not in KINDS:
      raise SystemExit(f"table kind {kind!r}: expected one of {sorted(KINDS)}")
    if not os.path.exists(os.path.join(REPO, workdir)):
      missing.append(f"{kind} {workdir}")
      return m.group(0)
    kw = dict(a.split("=", 1) for a in args.split())
    return head + KINDS[kind](workdir, **kw) + tail
  return MARK.sub(one, text)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--check", action="store_true", help="report drift, change nothing")
  args = ap.parse_args()
  stale, missing = [], []
  for path in sorted(glob.glob(os.path.join(REPO, "docs", "*.md"))) + \
      [os.path.join(REPO, "README.md")]:
    text = open(path, encoding="utf-8").read()
    new = render(text, missing)
    if new != text:
      stale.append(os.path.relpath(path, REPO))
      if not args.check:
        open(path, "w", encoding="utf-8").write(new)
  for m in missing:
    print(f"not on this machine, left as it is: {m}")
  for s in stale:
    print(("differs from its run: " if args.check else "rewrote: ") + s)
  return 1 if args.check and stale else 0


if __name__ == "__main__":
  sys.exit(main())
