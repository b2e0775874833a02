"""The tables of docs/*.md, generated from the runs' results files, so a table and the run it
reports cannot drift apart. A generated table sits between two markers naming its kind and
its run's workdir:

    <!-- table: prune workdirs/scp1_prune_mlp sizes=2,6,10,16 -->
    ...
    <!-- /table -->

    python docs/tables.py            # rewrites every table from its workdir
    python docs/tables.py --check    # exit 1 naming each table that differs from its run
    python docs/tables.py --check --exact   # ... byte for byte, no cross-CPU tolerance

What holds across machines: on one machine (one instruction set, the software versions a
results.json names) a rerun gives every results.json byte for byte, so a table is its run's
text exactly, except what was timed rather than computed (seconds, inference ms), which a
rerun measures anew; `--check` masks those (`without_timings`) and reports a table whose
timings alone changed apart from one whose results did. XLA rounds float32 differently on
an AVX-512 and an AVX2 CPU, and the main job (scp1 MLP, 50 models; docs/pruning.md's table,
made on an AVX-512 CPU, against a run on an AVX2 one on 2026-12-07) moved accuracies by up
to 0.002, paired differences (two accuracies each) by up to 0.004 and p-values by up to 0.25
(0.47 -> 0.72), with no bold verdict changed.
So `--check` takes a table whose text differs from its run as reproduced on another CPU when
every difference is one of these: an accuracy-like number (a decimal within [-1, 1]) within
CPU_TOLERANCE (0.006, 1.5x the largest measured move), or a p-value that stays on its side of
0.05; every other
number, every word and every bold mark must be equal. It says so per table; `--exact` refuses
even that.

Kinds: `prune` (a prune_mlp / prune_rnn run: `eegjax.evaluate.prune_tables.results_markdown`),
`criteria` (benchmarks/criteria.py's runs, one dataset's rows, Holm over the whole table:
`prune_tables.criteria_rows`), `alcohol` (a classify_alcohol / compress_alcohol run: its
approaches from results.json, their timings from timing.json), `gan`, `gan_epochs` and
`gan_pruning` (a train_gan run: the best models and their samples, the samples at each
quality epoch, the discriminators' conv-channel pruning), `cnn` (a prune_cnn run),
`regimes` (a prune_mlp / prune_rnn run's controls: scratch, uniform, best oneshot and best
finetune at each compute level), `cnn_sets` (every network x set's unpruned accuracy from the
prune_cnn runs under a folder)
`cnn_summary` (one row per network x set: unpruned, and each criterion at 25% / 50%
with the costs, condensed from the runs' `cnn` tables) and `regimes_summary` ("should I
prune this network?": per network x set x compute level, scratch against the best oneshot
and finetune networks with their verdicts, condensed from the runs' `regimes` tables;
`levels=near50` keeps the level nearest half the multiply-adds). A table whose workdir is
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


def _ci(s: dict) -> str:
  return f"{s['mean']:.3f} ({s['ci95'][0]:.3f}-{s['ci95'][1]:.3f})"


def _judge(q: dict, name: str) -> str:
  """A two-sample judge's balanced accuracy: the mean over the models, and the widest span
  of their per-model 95% binomial intervals."""
  s, per = q["summary"], q["per_model"]
  if name not in s:
    return ""
  lo, hi = min(_flat(per[f"{name}_low"])), max(_flat(per[f"{name}_high"]))
  return f"{s[name]['mean']:.3f} ({lo:.2f}-{hi:.2f})"


def _flat(v):
  return [x for row in v for x in (row if isinstance(row, list) else [row])]


def gan(workdir: str) -> str:
  """Each generator variant's best models (by the run's --select_by): the discriminator's
  class head on the real test images, and its samples' quality (TSTR against TRTR on the
  real test images, the two judges, the spread and memorisation ratios); the dense
  classifier beside."""
  res = _json(workdir)
  lines = ["| generator | best epoch per model | D class head accuracy | TSTR (test) | TRTR "
           "(test) | two-sample, MLP | two-sample, linear | spread ratio | memorisation "
           "ratio | outside at -1 |", "|" + "---|" * 10]
  for name, v in res["variants"].items():
    q = v["quality"]["summary"]
    lines.append(
        f"| {name} | {', '.join(str(e) for e in _flat(v['best_epoch']))} | "
        f"{_ci(v['summary']['accuracy'])} | {_ci(q['tstr_accuracy/test'])} | "
        f"{_ci(q['trtr_accuracy/test'])} | {_judge(v['quality'], 'two_sample_accuracy')} | "
        f"{_judge(v['quality'], 'linear_two_sample_accuracy')} | "
        f"{q['spread_ratio']['mean']:.3f} | {q['memorisation_ratio']['mean']:.3f} | "
        f"{q['outside_at_minus1']['mean']:.3f} |")
  dense = res.get("dense_classifier")
  if dense:
    lines.append(f"| dense classifier (192 band powers) | | {_ci(dense['summary']['accuracy'])}"
                 " | | | | | | | |")
  data = res["dataset"]
  lines += ["", f"Data: {data['name']} ({'real' if data['real'] else 'synthetic'}); "
            f"{len(res['protocol']['seeds'])} seed(s), split {res['protocol']['split']}; "
            f"best model: {res['protocol']['best_model']}. Accuracies: mean (95% interval "
            "over the models); judges: mean balanced accuracy (the span of the models' "
            "95% binomial intervals; 0.5 = indistinguishable to the judge)."]
  return "\n".join(lines) + "\n"


def gan_epochs(workdir: str) -> str:
  """The current generators' samples at each quality epoch, every model measured at the
  same epoch (no selection): TSTR beside TRTR, the judges, spread and memorisation."""
  res = _json(workdir)
  lines = ["| generator | epoch | TSTR (test) | TRTR (test) | two-sample, MLP | two-sample, "
           "linear | spread ratio | memorisation ratio |", "|" + "---|" * 8]
  for name, v in res["variants"].items():
    for epoch, q in v["quality"]["by_epoch"].items():
      lines.append(f"| {name} | {epoch} | {_ci(q['tstr_accuracy/test'])} | "
                   f"{_ci(q['trtr_accuracy/test'])} | {q['two_sample_accuracy']['mean']:.3f} | "
                   f"{q['linear_two_sample_accuracy']['mean']:.3f} | "
                   f"{q['spread_ratio']['mean']:.3f} | {q['memorisation_ratio']['mean']:.3f} |")
  return "\n".join(lines) + "\n"


def gan_pruning(workdir: str) -> str:
  """The best discriminators' conv channels pruned layer after layer: the class head's
  test accuracy unpruned and after each layer's last step, per variant and criterion, and
  each criterion's difference from distinctiveness at the end (same discriminators)."""
  res = _json(workdir)
  rows = res["conv_pruning"]
  last = {}
  for r in rows:              # the last step of each layer, in the order pruned
    last[(r["variant"], r["criterion"], r["layer"])] = r
  layers = sorted({r["layer"] for r in rows})
  first: dict = {}
  for r in rows:              # each variant and criterion's unpruned row, in run order
    first.setdefault((r["variant"], r["criterion"]), r)
  head = ["generator", "criterion", "unpruned"]
  for layer in layers:
    any_row = next(r for k, r in last.items() if k[2] == layer)
    head.append(f"conv{layer} -> {any_row['channels']} ({any_row['params']:,} params)")
  head.append("end minus distinctiveness")
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for (variant, crit), r0 in first.items():
    cells = [variant, crit, _ci(r0["summary"]["accuracy"])]
    ends = [last[(variant, crit, layer)]["summary"]["accuracy"] for layer in layers]
    cells += [_ci(e) for e in ends]
    ref = last[(variant, "distinctiveness", layers[-1])]["summary"]["accuracy"]["mean"]
    cells.append("" if crit == "distinctiveness" else f"{ends[-1]['mean'] - ref:+.3f}")
    lines.append("| " + " | ".join(cells) + " |")
  paired = res.get("conv_pruning_paired", {})
  lines += ["", f"Compensation: {paired.get('compensation', '')}; test: "
            f"{paired.get('method', '')}."]
  return "\n".join(lines) + "\n"


def cnn(workdir: str) -> str:
  """A prune_cnn run: the unpruned network (accuracy with its interval over seeds and
  test rows, the published figure), then each percentage and variant: accuracy, the
  paired difference from random (p raw and Holm), parameters, multiply-adds per trial
  and one model's inference time on a batch of (up to 64) test trials."""
  res, timing = _json(workdir), _json(workdir, "timing.json")
  pr, ds = res["pruning"], res["dataset"]["name"]
  lat = {k: next(iter(v.values())) for k, v in timing["latency"].items()}
  batch = next(iter(timing["latency"]["unpruned"])).rsplit("_", 1)[-1]   # test trials timed
  pub, _ = PUBLISHED.get(ds, (None, ""))
  n = len(res["protocol"]["seeds"])

  def ci(a, c):
    return f"{a:.3f}" + (f" ({c[0]:.3f}-{c[1]:.3f})" if c else "")
  u = pr["unpruned"]
  lines = ["| pruned | criterion / compensation | test accuracy (95% CI) | vs random "
           f"(p, Holm p) | parameters | multiply-adds / trial | inference ms ({batch} trials) |",
           "|---|---|---|---|---|---|---|",
           f"| 0% ({res['model']['network']}, {ds}, {n} seeds; published best "
           f"{pub if pub is not None else 'none cited'}) | - | {ci(u['accuracy'], u['ci95'])} "
           f"| - | {pr['costs']['unpruned']['params']:,} | "
           f"{pr['costs']['unpruned']['macs_per_trial']:,} | {lat['unpruned']:.1f} |"]
  for label, v in pr["variants"].items():
    key = f"{v['percent']}%"
    vr = v.get("vs_random")
    vs = (f"{vr['mean']:+.3f} (p {vr['p']:.3f}, {vr['p_holm']:.3f})" if vr else "-")
    lines.append(f"| {v['percent']}% | {v['criterion']} / {v['compensation']} | "
                 f"{ci(v['accuracy'], v['ci95'])} | {vs} | {pr['costs'][key]['params']:,} | "
                 f"{pr['costs'][key]['macs_per_trial']:,} | {lat[key]:.1f} |")
  return "\n".join(lines) + "\n"


CNN_SETS = ("scp1", "scp2", "finger", "eyes", "hmd")
CNN_NETS = (("shallow", "ShallowConvNet"), ("eegnet", "EEGNet-8,2"), ("deep4", "Deep4"))


def _md_rows(md: str) -> list:
  """The cells of a markdown table's body rows (after its header and rule)."""
  return [[c.strip() for c in line.strip().strip("|").split("|")]
          for line in md.splitlines()[2:]]


def cnn_sets(workdir: str, old: str = "", missing: list | None = None) -> str:
  """Each EEG conv network's unpruned test accuracy on each built-in set's official split
  (mean, 95% interval, seeds), from the prune_cnn runs `workdir`/<set>_prune_<network>,
  beside the set's published figure. A cell whose run is not on this machine keeps its text
  in the table as it stands (`old`; as a whole table whose run is absent does) and is
  appended to `missing`; a cell no run ever filled says "not run"."""
  nets = CNN_NETS
  lines = ["| set | " + " | ".join(n for _, n in nets) + " | published |",
           "|---|" + "---|" * (len(nets) + 1)]
  kept = {row[0]: row[1:] for row in _md_rows(old) if len(row) == len(nets) + 2}
  for ds in CNN_SETS:
    cells = []
    for i, (net, _) in enumerate(nets):
      run = os.path.join(workdir, f"{ds}_prune_{net}")
      if not os.path.exists(os.path.join(REPO, run, "results.json")):
        before = kept.get(ds, ["not run"] * len(nets))[i]
        if before != "not run" and missing is not None:
          missing.append(f"cnn_sets cell {run}")
        cells.append(before)
        continue
      res = _json(run)
      u = res["pruning"]["unpruned"]
      c = u["ci95"]
      cells.append(f"{u['accuracy']:.3f}" + (f" ({c[0]:.3f}-{c[1]:.3f})" if c else "")
                   + f", {len(res['protocol']['seeds'])} seeds")
    pub, _ = PUBLISHED.get(ds, (None, ""))
    lines.append(f"| {ds} | " + " | ".join(cells)
                 + f" | {pub if pub is not None else 'none cited'} |")
  return "\n".join(lines) + "\n"


def cnn_summary(workdir: str, missing: list | None = None) -> str:
  """One row per network x set: the unpruned accuracy, and at each percentage each
  criterion's accuracy (bold where it differs from random at Holm p < 0.05), parameters,
  multiply-adds and inference time, condensed from the run's `cnn` table: rendered from
  `workdir`/<set>_prune_<network> when that run is on this machine, else read from its
  table in docs/cnn.md (generated from the run before; appended to `missing`). Criteria
  are shown under the first compensation a run used."""
  crits = ("distinctiveness", "magnitude", "random")
  docs = open(os.path.join(REPO, "docs", "cnn.md"), encoding="utf-8").read()
  lines = ["| set | network | unpruned (95% CI) | published | 25%: " + " / ".join(crits)
           + " | 50%: " + " / ".join(crits) + " | parameters 0 / 25 / 50% | multiply-adds "
           "per trial 0 / 25 / 50% | inference ms 0 / 25 / 50% |", "|---|" + "---|" * 8]
  for ds in CNN_SETS:
    for net, title in CNN_NETS:
      run = os.path.join(workdir, f"{ds}_prune_{net}")
      if os.path.exists(os.path.join(REPO, run, "results.json")):
        md = cnn(run)
      else:
        m = re.search(rf"<!-- table: cnn {re.escape(run)} -->\n(.*?)<!-- /table -->", docs,
                      re.S)
        if not m:
          continue
        md = m.group(1)
        if missing is not None:
          missing.append(f"cnn_summary row {run} (from docs/cnn.md)")
      rows = _md_rows(md)
      base, by_pct = rows[0], {}
      for r in rows[1:]:
        crit, comp = (t.strip() for t in r[1].split("/"))
        by_pct.setdefault(r[0], {}).setdefault(comp, {})[crit] = r

      def acc(r):
        if r is None:
          return "-"
        holm = re.search(r", ([0-9.]+)\)$", r[3])
        a = r[2].split(" ")[0]
        return f"**{a}**" if holm and float(holm.group(1)) < 0.05 else a
      cells, sizes = [], [base]
      for pct in ("25%", "50%"):
        comps = by_pct.get(pct, {})
        first = next(iter(comps.values()), {})
        cells.append(" / ".join(acc(first.get(c)) for c in crits))
        sizes.append(next(iter(first.values()), None))
      macs = [f"{int(r[5].replace(',', '')) / 1e6:.2f}M" if r else "-" for r in sizes]
      cost = [" / ".join(r[4] if r else "-" for r in sizes), " / ".join(macs),
              " / ".join(r[6] if r else "-" for r in sizes)]
      pub = PUBLISHED.get(ds, (None, ""))[0]
      lines.append(f"| {ds} | {title} | {base[2]} | {pub if pub is not None else '-'} | "
                   + " | ".join(cells + cost) + " |")
  return "\n".join(lines) + "\n"


def regimes(workdir: str) -> str:
  """A prune_mlp / prune_rnn run's controls (--regimes): at each compute level, scratch,
  uniform, and the best oneshot and best finetune variants, accuracy with its 95% interval;
  and the declared primary comparison of each pruning regime's best against scratch."""
  sec = _json(workdir)["pruning"]["regimes"]
  rows, prim = sec["rows"], sec["comparisons"]["primary"]

  def cell(r):
    a = r["summary"]["accuracy"]
    ci = a.get("ci95_seeds_x_rows", a["ci95"])
    return f"{a['mean']:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"

  def best(regime, level):
    cands = [(n, r) for n, rs in rows.get(regime, {}).items() for r in rs if r["level"] == level]
    return max(cands, key=lambda c: (c[1]["summary"]["accuracy"]["mean"], c[0]), default=None)

  def vs(regime, level):
    c = next((c for c in prim if c["level"] == level and c["compare"] == f"best {regime}"
              and c["against"] == "scratch" and "accuracy" in c), None)
    if c is None:
      return "-"
    a = c["accuracy"]
    return f"{a['mean']:+.3f} (p {a['p']:.2g} / {a['p_holm']:.2g})"

  by_filters = "filter group" in sec.get("level", "")      # prune_cnn: a share of every group
  head = ((f"| filters pruned (share of MACs) | widths | " if by_filters else
           "| MACs level | units pruned (width) | ") +
          "multiply-adds / parameters | scratch | uniform | "
          "best oneshot | best finetune | oneshot - scratch (p raw / Holm) | "
          "finetune - scratch (p raw / Holm) |\n|---|---|---|---|---|---|---|---|---|\n")
  lines = []
  for lv in sec["levels"]:
    level = lv["percent"]
    out = []
    for regime in ("scratch", "uniform"):
      b = best(regime, level)
      out.append("not run" if not b else "= scratch" if b[1].get("same_as") else cell(b[1]))
    for regime in ("oneshot", "finetune"):
      b = best(regime, level)
      out.append(f"{cell(b[1])} {b[0]}" if b else "not run")
    widths = "-".join(map(str, lv["widths"]))
    size = widths if by_filters else f"{lv['units_pruned']} ({widths})"
    lines.append(f"| {level}% ({lv['macs_fraction']:.0%}) | {size} | "
                 f"{lv['macs']:,} / {lv['params']:,} | "
                 + " | ".join(out) + f" | {vs('oneshot', level)} | {vs('finetune', level)} |")
  try:
    spent = _json(workdir, "timing.json").get("regimes_training", {})
  except OSError:
    spent = {}

  def cost(regime, epochs):
    t = spent.get(regime)
    if not t:
      return f"{epochs} epochs"
    parts = (f", in parts of {t['side_by_side']}"
             if t.get("side_by_side", t["variants"]) < t["variants"] else "")
    return (f"{t['epochs']} epochs, {t['train_s']:.0f} s for {t['variants']} variants x "
            f"{t['models'] // t['variants']} models side by side{parts} "
            f"({t['train_s'] / t['variants']:.1f} s a variant)")
  note = (f"\nTraining cost (this CPU, timing.json): fine-tuning "
          f"{cost('finetune', sec['finetune_epochs'])}; scratch and uniform "
          f"{cost('scratch', sec['scratch_epochs'])}; one-shot pruning retrains nothing. "
          f"p: {sec['comparisons']['method']}; Holm over the {len(sec['plan']['family'])} "
          "primary comparisons declared before the run.\n")
  return head + "\n".join(lines) + "\n" + note


REGIME_SETS = ("scp1", "hmd")
REGIME_NETS = (("mlp", "MLP"), ("rnn", "RNN")) + CNN_NETS


def _unpruned(run: str) -> tuple[str, float, float]:
  """The unpruned networks' test accuracy with its 95% interval as the run's regimes table
  gives them (over seeds x test rows on one split, over the models on k folds), the share
  of the commonest class among the test rows, and the interval's lower end."""
  import numpy as np
  from eegjax.evaluate import stats
  z = np.load(os.path.join(REPO, run, "predictions.npz"))
  labels, pred = z["labels"], z["unpruned"]                 # (folds, rows), (folds, seeds, rows)
  valid = labels >= 0
  correct = (pred == labels[:, None, :]).astype(np.float64)
  per_model = (correct * valid[:, None]).sum(-1) / valid.sum(-1)[:, None]
  if labels.shape[0] == 1:
    lo, hi = stats.bootstrap_interval(correct[0], valid[0])
  else:
    lo, hi = _json(run)["summary"]["accuracy"]["ci95"]
  commonest = np.bincount(labels[valid]).max() / valid.sum()
  return f"{per_model.mean():.3f} ({lo:.3f}-{hi:.3f})", lo, float(commonest)


def regimes_summary(workdir: str, levels: str = "all", old: str = "",
                    missing: list | None = None) -> str:
  """Should I prune this network? One row per network x set (x compute level: `levels=all`,
  or `near50`, the level nearest half the multiply-adds), condensed from the `regimes`
  tables of the runs `workdir`/<set>_prune_<network>: the unpruned accuracy beside the
  commonest class's share, scratch, the best oneshot and best finetune networks with each
  one's declared comparison against scratch (difference, Holm p), and the verdict of each
  (worse / not told apart / better at Holm p < 0.05).
  A network whose unpruned interval reaches the commonest class's share is at chance, and
  its controls are no finding. A run not on this machine keeps its rows as they stand
  (`old`) and is appended to `missing`; one never run says so."""
  lines = ["| network | set | unpruned (95% CI) / commonest class | share of the MACs | "
           "scratch | best oneshot; minus scratch | best finetune; minus scratch | against scratch |",
           "|---|---|---|---|---|---|---|---|"]
  kept = {}
  for row in _md_rows(old):
    kept.setdefault((row[0], row[1]), []).append("| " + " | ".join(row) + " |")
  for ds in REGIME_SETS:
    for net, title in REGIME_NETS:
      run = os.path.join(workdir, f"{ds}_prune_{net}")
      if not os.path.exists(os.path.join(REPO, run, "results.json")):
        never = [f"| {title} | {ds} | not run with the controls | - | - | - | - | - |"]
        before = kept.get((title, ds), never)
        if before != never and missing is not None:
          missing.append(f"regimes_summary rows {run}")
        lines += before
        continue
      acc, low, commonest = _unpruned(run)
      md = regimes(run)
      rows = _md_rows(md.split("\n\nTraining cost")[0])
      share = [float(re.search(r"\((\d+)%\)", r[0]).group(1)) for r in rows]
      for r, sh in zip(rows, share):      # "50% (53%)": the level asked (MACs or filters)
        r[0] = f"{sh:.0f}%" + (f" ({r[0].split()[0]} of filters pruned)"
                               if md.startswith("| filters") else "")
      if levels == "near50":
        rows = [min(zip(share, rows), key=lambda c: abs(c[0] - 50))[1]]
      for r in rows:
        cells = []
        for i, name in ((5, "oneshot"), (6, "finetune")):
          d = re.match(r"([+-][0-9.]+) \(p [^/]+/ ([0-9.e-]+)\)", r[i + 2])
          if d is None:
            cells.append((f"{r[i]}", f"{name} not run"))
            continue
          word = ("not told apart" if float(d.group(2)) >= 0.05 else
                  "worse" if d.group(1)[0] == "-" else "better")
          cells.append((f"{r[i]}; {d.group(1)}, Holm p {d.group(2)}", f"{name} {word}"))
        verdict = ("unpruned at chance: no finding" if low <= commonest
                   else "; ".join(c[1] for c in cells))
        lines.append(f"| {title} | {ds} | {acc} / {commonest:.3f} | {r[0]} | {r[3]} | "
                     f"{cells[0][0]} | {cells[1][0]} | {verdict} |")
  return "\n".join(lines) + "\n"


KINDS = {"cnn": cnn, "regimes": regimes, "regimes_summary": regimes_summary,
         "cnn_sets": cnn_sets, "cnn_summary": cnn_summary, "prune": prune,
         "criteria": criteria, "alcohol": alcohol, "gan": gan,
         "gan_epochs": gan_epochs, "gan_pruning": gan_pruning}


CPU_TOLERANCE = 0.006
_NUMBER = re.compile(r"([+-]?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?)")


_SECONDS = re.compile(r"\d[\d,]*(?:\.\d+)?(?= s\b)")


def without_timings(text: str) -> str:
  """The text with what was timed, not computed, replaced by "T": seconds ("286 s", "(47.7 s
  a variant)") and the cells of a table column whose header says "ms" (inference times).
  A rerun measures these anew on any machine and under any load, so `--check` compares the
  rest and reports a timing change apart."""
  out, timed = [], set()
  for line in _SECONDS.sub("T", text).split("\n"):
    cells = line.split(" | ")
    if line.startswith("| ") and not set(line) <= set("|- "):
      if any(" ms" in c for c in cells):
        timed = {i for i, c in enumerate(cells) if " ms" in c}
      elif timed and len(cells) > max(timed):
        cells = [_NUMBER.sub("T", c) if i in timed else c for i, c in enumerate(cells)]
    elif not line.startswith("|"):
      timed = set()
    out.append(" | ".join(cells))
  return "\n".join(out)


def within_cpu_tolerance(old: str, new: str) -> bool:
  """True when two renderings of one table differ only as a run on another CPU's instruction
  set does (module docstring): the same words, marks and counts; accuracy-like decimals
  within CPU_TOLERANCE; p-values (after "p " and the "/ " of a raw / adjusted pair) on the
  same side of 0.05."""
  a, b = _NUMBER.split(old), _NUMBER.split(new)
  if len(a) != len(b):
    return False
  in_p = False
  for i, (u, v) in enumerate(zip(a, b)):
    if i % 2 == 0:                                    # text between numbers
      if u != v:
        return False
      in_p = u.endswith("p ") or (in_p and u == " / ")
      continue
    if u == v:
      continue
    x, y = float(u.replace(",", "")), float(v.replace(",", ""))
    if in_p:
      if (x < 0.05) != (y < 0.05):
        return False
    elif not ("." in u and "." in v and abs(x) <= 1 and abs(y) <= 1
              and abs(x - y) <= CPU_TOLERANCE + 1e-12):
      return False
  return True


def render(text: str, missing: list) -> str:
  def one(m):
    head, kind, workdir, args, body, tail = m.groups()
    if kind not in KINDS:
      raise SystemExit(f"table kind {kind!r}: expected one of {sorted(KINDS)}")
    if not os.path.exists(os.path.join(REPO, workdir)) or (
        kind not in ("criteria", "cnn_sets", "cnn_summary", "regimes_summary")
        and not os.path.exists(os.path.join(REPO, workdir, "results.json"))):
      missing.append(f"{kind} {workdir}")
      return m.group(0)
    kw = dict(a.split("=", 1) for a in args.split())
    if kind == "cnn_sets":
      kw.update(old=body, missing=missing)
    elif kind == "cnn_summary":
      kw.update(missing=missing)
    elif kind == "regimes_summary":
      kw.update(old=body, missing=missing)
    return head + KINDS[kind](workdir, **kw) + tail
  return MARK.sub(one, text)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--check", action="store_true", help="report drift, change nothing")
  ap.add_argument("--exact", action="store_true",
                  help="with --check: byte for byte, no tolerance for a run on another CPU")
  args = ap.parse_args()
  stale, missing, near, retimed = [], [], [], []
  for path in sorted(glob.glob(os.path.join(REPO, "docs", "*.md"))) + \
      [os.path.join(REPO, "README.md")]:
    text = open(path, encoding="utf-8").read()
    new = render(text, missing)
    if new != text:
      rel = os.path.relpath(path, REPO)
      if args.check and without_timings(new) == without_timings(text):
        retimed.append(rel)
        continue
      if args.check and not args.exact and within_cpu_tolerance(without_timings(text),
                                                                 without_timings(new)):
        near.append(rel)
        continue
      stale.append(rel)
      if not args.check:
        open(path, "w", encoding="utf-8").write(new)
  for m in missing:
    print(f"not on this machine, left as it is: {m}")
  for s in retimed:
    print(f"the same results, timed anew (seconds and inference ms differ): {s}")
  for s in near:
    print(f"reproduced to the cross-CPU tolerance (accuracies within {CPU_TOLERANCE}, "
          f"p on the same side of 0.05, every mark the same), not byte for byte: {s}")
  for s in stale:
    print(("differs from its run: " if args.check else "rewrote: ") + s)
  return 1 if args.check and stale else 0


if __name__ == "__main__":
  sys.exit(main())
