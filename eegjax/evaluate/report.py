"""Tables of a pruning study: one row per criterion and size, each metric as mean and the
two ends of its 95% confidence interval."""

from __future__ import annotations

from eegjax.evaluate.metrics import SCALARS

TABLE_METRICS = ("pairs", *SCALARS, "min_angle")


def prune_table(per_criterion: dict, grad_clip: float, finetuned: bool):
  """(header, rows) for prune_table.csv from each criterion's step rows (dicts with
  `criterion`, `units_pruned`, `hidden_units`, `summary`, `exec_ms`, maybe `finetuned`)."""
  header = ["criterion", "structure", "grad_clip", "units_pruned", "hidden_units"]
  for m in TABLE_METRICS:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  header += ["exec_ms"]
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
      if finetuned:
        line += [r["finetuned"][m]["mean"] if "finetuned" in r else "" for m in SCALARS]
      table.append(line)
  return header, table
