"""prune_cnn's controls beside one-shot pruning (`eegjax.studies.common.regimes`): at each
--prune_percent, every pruned conv net fine-tuned --regime_epochs epochs, and the pruned
architecture trained from scratch.

The pruned networks come from the engine cut to their living filters (`prune`); here they
go back to the trained width with the pruned filters zero (`expand`, the inverse of each
group's cut, last group first), so every variant of every percentage has one shape, trains
held to its mask (`eegjax.models.masked`) through the one training driver (the loop layout
on a CPU) and is evaluated by the study's trainer. A percentage prunes the same share of
every filter group, so the pruned architecture is the evenly narrowed one: `uniform` is the
`scratch` network and is not trained twice.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.pruning.surgery import expand_units, remove_units
from eegjax.evaluate import prune_tables
from eegjax.studies.common import regimes, regimes_figure, regimes_report


def units_to_prune(width: int, percent: int) -> int:
  """Units of a group of `width` a percentage prunes (rounded down; one always stays)."""
  return min(width - 1, int(width * percent / 100))


class Adapter:
  """What the common regimes need of a study: its classifier, trainer and unit groups."""

  def __init__(self, models, trainer):
    self.model, self.trainer, self.groups = models.model, trainer, models.groups


def cut_sizes(models, percent: int) -> list:
  """For each group in pruning order: (its `sizes` when it is cut, the units it keeps
  counted); the shapes are every model's."""
  cur, out = models.one(0, 0), []
  for g in models.groups:
    width = models.widths[g.name]
    k = units_to_prune(width, percent)
    out.append((g.sizes(cur), width - k))
    if k:
      cur = remove_units(cur, g, np.arange(k, width))
  return out


def expand(models, small, kept: dict, percent: int):
  """One model's pruned params back at the trained width: the pruned filters' entries zero,
  every kept one where it was. `kept`: {group: indices of the kept units}."""
  steps = cut_sizes(models, percent)
  for g, (sizes, left) in reversed(list(zip(models.groups, steps))):
    if left < models.widths[g.name]:
      small = expand_units(small, g, np.asarray(kept[g.name]), sizes)
  return small


def alive_of(models, keep: dict):
  """Per group, (F, S, U) bool: the units each model kept (`keep`: {group: (F, S, k)})."""
  out = []
  for g in models.groups:
    a = np.zeros((models.n_f, models.n_s, models.widths[g.name]), bool)
    if g.name in keep:
      np.put_along_axis(a, np.asarray(keep[g.name]), True, axis=2)
    else:
      a[:] = True
    out.append(a)
  return out


def levels(cfg, costs: dict, models) -> list[dict]:
  """One level per --prune_percent: its cost (read from the traced program) and widths."""
  full = costs["unpruned"]["macs_per_trial"]
  return [{"percent": p, "units_pruned": p,
           "widths": [costs[f"{p}%"]["units"][g.name] for g in models.groups],
           "macs": costs[f"{p}%"]["macs_per_trial"], "params": costs[f"{p}%"]["params"],
           "macs_fraction": costs[f"{p}%"]["macs_per_trial"] / full}
          for p in cfg.percents]


def run(cfg, prep, wd, models, trainer, pruned: dict, costs: dict) -> dict:
  """Every regime at every percentage. `pruned`: {(criterion, compensation, percent):
  (full-width params (F, S, ...), keep {group: (F, S, k)})}. Returns what
  `regimes_report.comparisons`, `results_section` and `table` read."""
  prog = Adapter(models, trainer)
  lv = {x["percent"]: x for x in levels(cfg, costs, models)}
  rows, timing = {r: {} for r in cfg.regimes}, {}
  for (crit, compensation, p), (params, _) in pruned.items():
    rows["oneshot"].setdefault(f"{crit}/{compensation}", []).append(
        regimes.regime_row(prog, prep, params, "oneshot", lv[p], 0))
  if "finetune" in cfg.regimes:
    todo = list(pruned.items())
    ms = [regimes.masks(models.groups, params, alive_of(models, keep))
          for _, (params, keep) in todo]
    wd.log(f"finetune: {len(todo)} pruned variants x {models.n_f * models.n_s} models, "
           f"{cfg.regime_epochs} epochs")
    tuned, timing["finetune"] = regimes.train_masked(
        cfg, prep, wd, prog, [p for _, (p, _) in todo], ms, cfg.regime_epochs,
        "regime-finetune")
    for ((crit, compensation, p), _), params in zip(todo, tuned):
      rows["finetune"].setdefault(f"{crit}/{compensation}", []).append(
          regimes.regime_row(prog, prep, params, "finetune", lv[p], cfg.regime_epochs))
  if "scratch" in cfg.regimes or "uniform" in cfg.regimes:
    init = regimes.fresh_init(cfg, prep)
    ms = [regimes.uniform_masks(prog, init, lv[p]["widths"]) for p in cfg.percents]
    wd.log(f"from scratch: {len(ms)} architectures x {models.n_f * models.n_s} models, "
           f"{cfg.classify.train.epochs} epochs")
    nets, timing["scratch"] = regimes.train_masked(cfg, prep, wd, prog, [init] * len(ms),
                                                   ms, cfg.classify.train.epochs,
                                                   "regime-scratch")
    for p, params in zip(cfg.percents, nets):
      row = regimes.regime_row(prog, prep, params, "scratch", lv[p],
                               cfg.classify.train.epochs)
      for regime in ("scratch", "uniform"):
        if regime in cfg.regimes:
          rows[regime].setdefault(regime, []).append(
              {**row, "regime": regime, **({"same_as": "scratch (a percentage prunes "
                                             "every filter group alike)"}
                                            if regime == "uniform" else {})})
  cost_rows = {"0": {"macs": costs["unpruned"]["macs_per_trial"],
                     "params": costs["unpruned"]["params"]},
               **{str(p): {"macs": lv[p]["macs"], "params": lv[p]["params"]}
                  for p in cfg.percents}}
  return {"levels": list(lv.values()), "costs": cost_rows, "rows": rows,
          "level_unit": "% of every filter group pruned", "training": timing}


def stack(models, per_model: list) -> object:
  """(F, S, ...) arrays of a row-major list of per-model trees."""
  return jax.tree.map(lambda *a: jnp.stack(a).reshape((models.n_f, models.n_s) + a[0].shape),
                      *per_model)


def prediction_arrays(out: dict) -> dict:
  """predictions.npz's arrays of the retrained regimes: 'finetune/<criterion>/<compensation>/
  <percent>' and 'scratch/<percent>' (folds, seeds, rows), -1 on padding."""
  arrays = {}
  for regime, by_name in out["rows"].items():
    for name, rows in by_name.items():
      for r in rows:
        if regime != "oneshot" and not r.get("same_as"):
          key = (f"{regime}/{r['level']}" if name == regime else
                 f"{regime}/{name}/{r['level']}")
          arrays[key] = np.asarray(r["predicted"], np.int32)
  return arrays


def report(cfg, prep, wd, models, trainer, pruned: dict, costs: dict, results: dict,
           arrays: dict) -> dict:
  """Runs the controls (`run`), tests the declared comparisons, puts results.json's
  "regimes" section into `results` and the regimes' predictions into `arrays`; returns the
  run's extra tables, log lines, figures and timing."""
  out = run(cfg, prep, wd, models, trainer, pruned, costs)
  protocol = prune_tables.protocol_of(prep.parts, prep.ds.y, prep.folds.test_idx,
                                      prep.folds.test_w)
  out["comparisons"] = regimes_report.comparisons(cfg, out, protocol)
  results["pruning"]["regimes"] = regimes_report.results_section(cfg, out)
  arrays.update(prediction_arrays(out))
  title = f"{prep.raw.info.name}, {cfg.classify.model}"
  acc0 = results["summary"]["accuracy"]["mean"]
  figures = [(f"regimes_{k}.png", lambda path, k=k: regimes_figure.accuracy_vs_cost(
      out["rows"]["oneshot"], out, acc0, path, title, k)) for k in ("macs", "params")]
  return {"tables": {"regimes_table.csv": regimes_report.table(out)},
          "lines": regimes_report.summary_lines(out), "figures": figures,
          "timing": {"regimes_training": out["training"]}}
