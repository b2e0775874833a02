"""The controls' report (`eegjax.studies.common.regimes`): the declared primary comparisons
tested with the protocol's paired test and Holm over that family, the exploratory
differences from scratch, results.json's "regimes" section, regimes_table.csv and the log
lines."""

from __future__ import annotations

from eegjax.evaluate import prune_tables, stats
from eegjax.studies.common.regimes import primary_plan


def _best(rows_by_variant: dict, level: int, criterion=None):
  cands = [(name, r) for name, rs in rows_by_variant.items() for r in rs
           if r["level"] == level and (criterion is None or name.split("/")[0] == criterion)]
  if not cands:
    return None, None
  return max(cands, key=lambda c: (c[1]["summary"]["accuracy"]["mean"], c[0]))


def comparisons(cfg, out: dict, protocol: dict) -> dict:
  """The declared primary family (`primary_plan`), each with its paired test and Holm
  over the family; and the exploratory differences of every variant from scratch (raw p)."""
  rows = out["rows"]
  primary = []
  for item in primary_plan(cfg)["family"]:
    level = item["level"]
    regime = item["compare"].split(":")[0].replace("best ", "")
    if item["against"] == "scratch":
      name, row = _best(rows[regime], level)
      ref_name, ref = _best(rows.get("scratch", {}), level)
    else:
      crit = item["compare"].split("best ")[-1]
      name, row = _best(rows[regime], level, crit)
      ref_name, ref = _best(rows[regime], level, "random")
    if row is None or ref is None:
      primary.append({**item, "note": "not reached (a curve stopped before this size)"})
      continue
    primary.append({**item, "variant": name, "reference": ref_name,
                    **prune_tables.compare(row, ref, protocol)})
  cells = [c["accuracy"] for c in primary if "accuracy" in c]
  for cell, adj in zip(cells, stats.holm([c["p"] for c in cells])):
    cell["p_holm"] = float(adj)
  exploratory = []
  scratch = {r["level"]: r for r in rows.get("scratch", {}).get("scratch", [])}
  for regime in cfg.regimes:
    if regime == "scratch":
      continue
    for name, rs in rows[regime].items():
      for r in rs:
        if r["level"] in scratch and not r.get("same_as"):
          exploratory.append({"level": r["level"], "regime": regime, "variant": name,
                              "against": "scratch",
                              **prune_tables.compare(r, scratch[r["level"]], protocol)})
  return {"primary": primary, "exploratory": exploratory,
          "method": prune_tables.method_of(protocol)}


def _name(regime: str, name: str) -> tuple[str, str]:
  """(criterion, compensation) of a row's variant name; '-' for the architectures."""
  if name in ("scratch", "uniform"):
    return "-", "-"
  crit, compensation = name.split("/")[:2]
  return crit, compensation


def results_section(cfg, out: dict) -> dict:
  """results.json's "regimes": the declared plan, the levels and their costs, every
  regime's rows (summaries and per-model figures; predictions in predictions.npz) and the
  comparisons."""
  rows = {regime: {name: [{k: v for k, v in r.items()
                           if k not in ("predicted", "exec_ms", "analyse_ms")} for r in rs]
                   for name, rs in by_name.items()}
          for regime, by_name in out["rows"].items()}
  return {"plan": primary_plan(cfg), "levels": out["levels"], "costs": out["costs"],
          "level": "percent" + out["level_unit"],
          "finetune_epochs": cfg.regime_epochs, "scratch_epochs": cfg.classify.train.epochs,
          "optimizer_state": "re-initialised (finetune); fresh initialisation, key stream "
                             "fold_in(model_key, 3) (scratch, uniform)",
          "rows": rows, "comparisons": out["comparisons"],
          # seconds differ from run to run: the timing lives in timing.json
          "training": {k: {m: v for m, v in t.items() if m != "train_s"}
                       for k, t in out["training"].items()}}


def table(out: dict):
  """(header, rows) of regimes_table.csv: one row per regime x variant x level, with its
  cost, training epochs, accuracy and difference from scratch (exploratory, raw p)."""
  vs = {(e["level"], e["regime"], e["variant"]): e["accuracy"]
        for e in out["comparisons"]["exploratory"]}
  header = ["regime", "criterion", "compensation", "level_percent", "units_pruned",
            "macs_per_trial", "params", "training_epochs", "accuracy_mean", "accuracy_ci_low",
            "accuracy_ci_high", "f1_mean", "accuracy_minus_scratch", "p_raw"]
  lines = []
  for regime, by_name in out["rows"].items():
    for name, rs in by_name.items():
      crit, compensation = _name(regime, name)
      for r in rs:
        a = r["summary"]["accuracy"]
        d = vs.get((r["level"], regime, name), {})
        lines.append([regime, crit, compensation, r["level"], r["units_pruned"], r["macs"],
                      r["params"], r.get("epochs", 0), a["mean"], a["ci95"][0], a["ci95"][1],
                      r["summary"]["f1"]["mean"], d.get("mean", ""), d.get("p", "")])
  return header, lines


def summary_lines(out: dict) -> list[str]:
  """The primary comparisons, one line each, for the log."""
  lines, unit = [], out["level_unit"]
  for c in out["comparisons"]["primary"]:
    if "accuracy" not in c:
      lines.append(f"{c['level']}{unit}: {c['compare']} vs {c['against']}: {c['note']}")
      continue
    a = c["accuracy"]
    lines.append(f"{c['level']}{unit}: {c['compare']} ({c['variant']}) minus {c['against']} "
                 f"({c['reference']}): accuracy {a['mean']:+.4f} [{a['ci95'][0]:+.4f}, "
                 f"{a['ci95'][1]:+.4f}], p {a['p']:.3g}, Holm {a['p_holm']:.3g} (primary)")
  return lines
