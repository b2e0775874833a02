"""Tables of a pruning study: one row per variant (criterion and compensation) and size,
each metric as mean and the two ends of its 95% confidence interval, and each criterion's
paired difference from the reference criterion (distinctiveness) under the same
compensation on the same models at the same size, with raw and Holm-adjusted p."""

from __future__ import annotations

from typing import Optional

import numpy as np

from eegjax.evaluate import stats
from eegjax.evaluate.metrics import SCALARS

TABLE_METRICS = ("pairs", *SCALARS, "min_angle")
PAIRED_METRICS = ("accuracy", "f1", "loss")
REFERENCE = "distinctiveness"


def protocol_of(parts, y, test_idx, test_w) -> dict:
  """What the paired comparisons need to know of the protocol: the number of folds (1:
  one given split), n_test / n_train (the mean over folds) and, for one split, each test
  row's label ((folds, rows), -1 on padding)."""
  ratio = float(np.mean([len(te) / len(tr) for tr, _, te in parts]))
  labels = np.where(np.asarray(test_w), np.asarray(y)[np.asarray(test_idx)], -1)
  return {"folds": len(parts), "test_train_ratio": ratio, "labels": labels}


NO_TEST = ("one given split and no per-row predictions kept: paired differences "
           "without a p-value (a t-test over seeds sharing one split does not fit)")


def method_of(protocol: dict, predictions: bool = True) -> str:
  """The paired test `paired_differences` uses under `protocol` (for rows that keep
  their per-row `predicted` classes or not)."""
  if protocol["folds"] > 1:
    return stats.CORRECTED_T
  return stats.BOOTSTRAP.format(B=stats.NUM_BOOTSTRAP) if predictions else NO_TEST


def compare(row: dict, ref: dict, protocol: dict) -> dict:
  """One variant's row minus the reference's at the same size, by the test that fits."""
  if protocol["folds"] == 1 and "predicted" in row and "predicted" in ref:
    labels = protocol["labels"][0]
    correct = lambda r: np.asarray(r["predicted"])[0] == labels[None, :]  # noqa: E731
    out = {"accuracy": stats.two_way_bootstrap(correct(row), correct(ref), labels >= 0)}
    for m in PAIRED_METRICS[1:]:      # no row-level statistic for these: the mean alone
      d = np.asarray(row["per_model"][m], np.float64) - np.asarray(ref["per_model"][m])
      out[m] = {"mean": float(d.mean()), "p": float("nan"),
                "note": "one split: tested on accuracy only (two-way bootstrap)"}
    return out
  out = {}
  for m in PAIRED_METRICS:
    d = np.asarray(row["per_model"][m], np.float64) - np.asarray(ref["per_model"][m])
    out[m] = stats.corrected_t(d.reshape(d.shape[0], -1).mean(axis=1),
                               protocol["test_train_ratio"])
  return out


def paired_differences(per_variant: dict, protocol: dict, reference: str = REFERENCE) -> dict:
  """{variant: [{units_pruned, reference, accuracy: {mean, ci95, p, p_holm, ...}, f1,
  loss}]}: at every size both reached, each variant's figures minus those of the
  `reference` criterion under the same compensation (and masking) on the same trained
  networks, by the test that fits the protocol (`eegjax.evaluate.stats`); the accuracy
  p-values Holm-adjusted over all of them. A variant's rows carry `criterion` and
  `compensation` (default "merge" for rows made before compensation was an axis)."""
  def key(o):
    r = o["rows"][0]
    return r.get("compensation", "merge"), r.get("masked", False)
  refs = {key(o): name for name, o in per_variant.items()
          if o["rows"] and o["rows"][0]["criterion"] == reference}
  out = {}
  for name, o in per_variant.items():
    ref = refs.get(key(o)) if o["rows"] else None
    if ref is None or ref == name:
      continue
    by_size = {r["units_pruned"]: r for r in per_variant[ref]["rows"]}
    out[name] = [{"units_pruned": r["units_pruned"], "reference": ref,
                  **compare(r, by_size[r["units_pruned"]], protocol)}
                 for r in o["rows"] if r["units_pruned"] in by_size]
  cells = [d["accuracy"] for rows in out.values() for d in rows]
  for cell, adj in zip(cells, stats.holm([c["p"] for c in cells])):
    cell["p_holm"] = float(adj)
  return out


def prune_table(per_variant: dict, grad_clip: float, finetuned: bool,
                paired_rows: Optional[dict] = None):
  """(header, rows) for prune_table.csv from each variant's step rows (dicts with
  `criterion`, `compensation`, `units_pruned`, `hidden_units`, `summary`, `exec_ms`, maybe
  `masked` and `finetuned`) and the paired differences from distinctiveness
  (`paired_differences`)."""
  paired_rows = paired_rows or {}
  lookup = {(v, d["units_pruned"]): d for v, rows in paired_rows.items() for d in rows}
  header = ["criterion", "compensation", "structure", "grad_clip", "units_pruned",
            "hidden_units"]
  for m in TABLE_METRICS:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  header += ["exec_ms"]
  header += [f"accuracy_minus_{REFERENCE}_{k}" for k in ("mean", "ci_low", "ci_high", "p",
                                                         "p_holm")]
  if finetuned:
    header += [f"finetuned_{m}_mean" for m in SCALARS]
  table = []
  for variant, out in per_variant.items():
    for r in out["rows"]:
      line = [r["criterion"], r.get("compensation", "merge"),
              "masked" if r.get("masked") else "structural", grad_clip or "none",
              r["units_pruned"], r["hidden_units"]]
      for m in TABLE_METRICS:
        s = r["summary"][m]
        line += [s["mean"], s["ci95"][0], s["ci95"][1]]
      line.append(r["exec_ms"])
      d = lookup.get((variant, r["units_pruned"]))
      line += (["", "", "", "", ""] if d is None else
               [d["accuracy"]["mean"], *d["accuracy"]["ci95"], d["accuracy"]["p"],
                d["accuracy"].get("p_holm", "")])
      if finetuned:
        line += [r["finetuned"][m]["mean"] if "finetuned" in r else "" for m in SCALARS]
      table.append(line)
  return header, table


def results_markdown(res: dict, sizes=()) -> str:
  """A pruning run's README table from its results.json: per compensation and size (all,
  or `sizes`), each criterion's test accuracy and, beside distinctiveness's (bold), its
  paired difference under the same compensation with p raw / Holm-adjusted."""
  pruning = res["pruning"]
  paired = pruning["paired_vs_distinctiveness"]["metrics"]
  variants = pruning["criteria"]
  crits = list(dict.fromkeys(v.split("/")[0] for v in variants))
  comps = list(dict.fromkeys(v.split("/")[1] for v in variants))
  every = sorted({s["units_pruned"] for v in variants.values() for s in v["steps"]})
  sizes = list(sizes) or every
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
          ok = d.get("p") is not None and d["p"] == d["p"]     # None (JSON) or NaN: no test
          p = f"{d['p']:.2g} / {d['p_holm']:.2g}" if ok else "n/a"
          cells.append(f"{acc:.3f} ({d['mean']:+.3f}, p {p})")
      lines.append(f"| {comp} | {n} | " + " | ".join(cells) + " |")
  method = pruning["paired_vs_distinctiveness"]["method"]
  lines += ["", f"p: {method}; raw / Holm over the run's {sum(map(len, paired.values()))} "
            "comparisons."]
  return "\n".join(lines) + "\n"


# --------------------------------------------- benchmarks/criteria.py's table (docs too)
FRACTIONS = (0.10, 0.25, 0.50)
CRITERIA_HEADER = ["dataset", "test_rows", "unpruned_accuracy", "published_accuracy", "pruned",
                   "units_pruned", "compensation", "criterion", "accuracy", "accuracy_ci_low",
                   "accuracy_ci_high", "minus_distinctiveness", "diff_ci_low", "diff_ci_high",
                   "p", "p_holm", "published_source"]


def criteria_rows(name: str, res: dict, published: tuple) -> list[dict]:
  """One row per (fraction of the layer pruned, compensation, criterion) of a one-layer
  pruning run on dataset `name` (its results.json), in the run's order, beside
  `published` (accuracy or None, its source: `eegjax.data.registry.PUBLISHED`); p_holm
  is left for `holm_adjust` over the whole table."""
  pruning = res["pruning"]
  paired = pruning["paired_vs_distinctiveness"]["metrics"]
  published, source = published
  base = res["summary"]["accuracy"]
  hidden = res["model"]["hidden_sizes"][0]
  crits = list(dict.fromkeys(v.split("/")[0] for v in pruning["criteria"]))
  comps = list(dict.fromkeys(v.split("/")[1] for v in pruning["criteria"]))
  out = []
  for frac in FRACTIONS:
    n = int(round(frac * hidden))
    n -= n % 2
    for comp in comps:
      for crit in crits:
        variant = f"{crit}/{comp}"
        steps = {s["units_pruned"]: s for s in pruning["criteria"][variant]["steps"]}
        acc = steps[n]["summary"]["accuracy"] if n in steps else None
        diff = next((d["accuracy"] for d in paired.get(variant, [])
                     if d["units_pruned"] == n), None)
        ci = (acc or {}).get("ci95_seeds_x_rows", ["", ""])
        out.append(dict(zip(CRITERIA_HEADER, [
            name, res["dataset"]["official_split"]["test_rows"], base["mean"],
            published if published is not None else "", f"{frac:.0%}", n, comp, crit,
            "" if acc is None else acc["mean"], ci[0], ci[1],
            "" if diff is None else diff["mean"], "" if diff is None else diff["ci95"][0],
            "" if diff is None else diff["ci95"][1], "" if diff is None else diff["p"], "",
            source])))
  return out


def holm_adjust(rows: list[dict]) -> None:
  """Holm over every comparison in the table (its cells with a p-value)."""
  cells = [r for r in rows if r["p"] != ""]
  for r, adj in zip(cells, stats.holm([r["p"] for r in cells])):
    r["p_holm"] = float(adj)


def criteria_markdown(rows: list[dict]) -> str:
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
  lines += [f"- {name}: published figure — {source}" for name, source in
            dict.fromkeys((r["dataset"], r["published_source"]) for r in rows)]
  return "\n".join(lines) + "\n"
