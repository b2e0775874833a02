"""Tables of a pruning study: one row per criterion and size, each metric as mean and the
two ends of its 95% confidence interval, and each criterion's paired difference from the
reference criterion (distinctiveness) on the same models at the same size."""

from __future__ import annotations

from typing import Optional

import numpy as np

from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import paired

TABLE_METRICS = ("pairs", *SCALARS, "min_angle")
PAIRED_METRICS = ("accuracy", "f1", "loss")
REFERENCE = "distinctiveness"


def paired_differences(per_criterion: dict, test_train_ratio: float,
                       reference: str = REFERENCE) -> dict:
  """{criterion: [{units_pruned, accuracy: paired(...), f1: ..., loss: ...}]}: at every
  size both reached, each model's figure under the criterion minus its figure under
  `reference` (the same trained network, fold and seed), summarised by the corrected
  resampled t-test (`summary.paired`). Empty without the reference criterion."""
  if reference not in per_criterion:
    return {}
  ref = {r["units_pruned"]: r["per_model"] for r in per_criterion[reference]["rows"]}
  out = {}
  for crit, o in per_criterion.items():
    if crit == reference:
      continue
    out[crit] = [{"units_pruned": r["units_pruned"], **{
        m: paired(np.asarray(r["per_model"][m], np.float64)
                  - np.asarray(ref[r["units_pruned"]][m], np.float64), test_train_ratio)
        for m in PAIRED_METRICS}} for r in o["rows"] if r["units_pruned"] in ref]
  return out


def prune_table(per_criterion: dict, grad_clip: float, finetuned: bool,
                paired_rows: Optional[dict] = None):
  """(header, rows) for prune_table.csv from each criterion's step rows (dicts with
  `criterion`, `units_pruned`, `hidden_units`, `summary`, `exec_ms`, maybe `finetuned`)
  and the paired differences from distinctiveness (`paired_differences`)."""
  paired_rows = paired_rows or {}
  lookup = {(c, d["units_pruned"]): d for c, rows in paired_rows.items() for d in rows}
  header = ["criterion", "structure", "grad_clip", "units_pruned", "hidden_units"]
  for m in TABLE_METRICS:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  header += ["exec_ms"]
  header += [f"accuracy_minus_{REFERENCE}_{k}" for k in ("mean", "ci_low", "ci_high", "p")]
  if finetuned:
    header += [f"finetuned_{m}_mean" for m in SCALARS]
  table = []
  for out in per_criterion.values():
    for r in out["rows"]:
      masked = r["criterion"].endswith("_masked")
      line = [r["criterion"], "masked" if masked else "structural", grad_clip or "none",
              r["units_pruned"], r["hidden_units"]]
      for m in TABLE_METRICS:
        s = r["summary"][m]
        line += [s["mean"], s["ci95"][0], s["ci95"][1]]
      line.append(r["exec_ms"])
      d = lookup.get((r["criterion"], r["units_pruned"]))
      line += (["", "", "", ""] if d is None else
               [d["accuracy"]["mean"], *d["accuracy"]["ci95"], d["accuracy"]["p"]])
      if finetuned:
        line += [r["finetuned"][m]["mean"] if "finetuned" in r else "" for m in SCALARS]
      table.append(line)
  return header, table
