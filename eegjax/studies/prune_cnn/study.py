"""Pruning the EEG conv networks through the engine (prune_cnn.py): train every (fold,
seed) network, then for each criterion x compensation and each percentage, prune that
share of every prunable filter group of every model (`eegjax.pruning.prune`: progressive,
`--prune_step` units at a time, group after group in program order), and measure the
pruned networks: test accuracy with the interval and paired tests that fit the protocol,
parameters, multiply-adds and inference time.

Every criterion prunes the same number of units of each group (pair criteria go on past
their angle thresholds: `beyond_thresholds`), so at a given percentage every pruned
network has the same shape and the same cost; they differ only in which units went, and
each comparison with random (same compensation, same percentage) is paired on the same
models and test rows. A finished (criterion, compensation, percentage) is kept in
pruned/<name>.npz, so a rerun after an interruption does not prune it again.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegjax.errors import ConfigError
from eegjax.evaluate import stats
from eegjax.evaluate.cost import count_trainable, multiply_adds
from eegjax.evaluate.timing import latency_ms
from eegjax.pruning import compensation as comp
from eegjax.pruning import criteria as criteria_registry
from eegjax.pruning import discover_groups, prune, resized_apply
from eegjax.pruning.progressive import PruneConfig
from eegjax.run.lifecycle import Results, run_study
from eegjax.settings import setting
from eegjax.studies.common import regimes
from eegjax.studies.common.regimes import SIDE_BY_SIDE_HELP
from eegjax.studies.prune_cnn import controls
from eegjax.studies.prune_cnn.controls import units_to_prune
from eegjax.studies.common.classifier import (ClassifyConfig, WrapsClassify, history_arrays,
                                              prepare, run_table, train, training_results)
from eegjax.train.folds import scale_rows

TIMING_ROWS = 64


@dataclasses.dataclass(frozen=True)
class PruneCnnConfig(WrapsClassify):
  classify: ClassifyConfig
  prune: PruneConfig = PruneConfig()
  criteria: tuple[str, ...] = setting(
      ("distinctiveness", "magnitude", "random"), "pruning criteria compared at equal size "
      "(each only chooses which filter goes; eegjax.pruning.criteria)")
  compensations: tuple[str, ...] = setting(
      ("mean",), "what becomes of a removed filter's contribution, applied to every "
      "criterion: none, mean, least_squares, merge", flag="compensation")
  percents: tuple[int, ...] = setting((25, 50), "percent of each filter group's units "
                                      "pruned (each from the trained network)",
                                      flag="prune_percent")
  activation_rows: int = setting(256, "training rows the activations are read on (the "
                                 "first of each fold's training part)")
  regimes: tuple[str, ...] = setting(
      ("oneshot",), "how the small networks are got, compared at each --prune_percent on the "
      "same seeds and test rows (eegjax.studies.common.regimes): oneshot (pruned, not "
      "retrained), finetune (pruned, then retrained --regime_epochs), scratch (the pruned "
      "architecture trained from a fresh initialisation), uniform (here the scratch "
      "network: a percentage prunes every filter group alike)")
  regime_epochs: int = setting(10, "fine-tuning epochs of the finetune regime (Adam "
                               "re-initialised)")
  regime_side_by_side: int = setting(0, SIDE_BY_SIDE_HELP)

  def __post_init__(self):
    if not self.classify.is_cnn:
      raise ConfigError(f"prune_cnn prunes the EEG conv networks; --model="
                        f"{self.classify.model} is not one")
    for name, given, known in (("criteria", self.criteria, criteria_registry.names()),
                               ("compensation", self.compensations, comp.COMPENSATIONS)):
      if not given or len(set(given)) != len(given):
        raise ConfigError(f"--{name}={','.join(given)}: expected some of "
                          f"{','.join(known)}, each once")
      for g in given:
        if g not in known:
          raise ConfigError(f"--{name}: {g!r} is not one of {','.join(known)}")
    if not self.percents or any(not 0 < p < 100 for p in self.percents):
      raise ConfigError(f"--prune_percent={','.join(map(str, self.percents))}: expected "
                        "percentages between 1 and 99")
    if self.activation_rows < 2:
      raise ConfigError(f"--activation_rows={self.activation_rows}: expected at least 2")
    regimes.check(self.regimes, self.percents, self.regime_epochs, self.regime_side_by_side)

  @property
  def regime_levels(self) -> tuple[int, ...]:
    """Where the regimes are compared: the pruned percentages of every filter group."""
    return self.percents

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "classify": self.classify.to_json()}


def run(cfg: PruneCnnConfig, flagfile_text: Optional[str] = None) -> dict:
  """Trains, prunes and measures through the one runner; returns results."""
  return run_study(cfg, flagfile_text, lambda wd: prune_cnn(cfg, wd))


class Models:
  """The trained models of one study and what pruning them needs: the traced program
  (which runs at every pruned size), each fold's scaled rows, the groups."""

  def __init__(self, cfg: PruneCnnConfig, prep, params):
    self.cfg, self.prep, self.params = cfg, prep, params
    x, y, _ = prep.data
    self.n_f, self.n_s = np.asarray(jax.tree.leaves(params)[0]).shape[:2]
    one = self.one(0, 0)
    self.model = prep.model
    self.run = resized_apply(prep.model.apply, one, x[:2])
    self.groups = [g for g in discover_groups(prep.model.apply, one, x[:2]) if g.prunable]
    self.widths = {g.name: g.size(one) for g in self.groups}
    self.forward = jax.jit(self.run)

  def one(self, f: int, s: int):
    return jax.tree.map(lambda a: jnp.asarray(a[f, s]), self.params)

  def rows(self, f: int, which: str, limit: Optional[int] = None):
    folds = self.prep.folds
    idx = np.asarray(getattr(folds, f"{which}_idx")[f])
    w = np.asarray(getattr(folds, f"{which}_w")[f])
    idx = idx[w] if limit is None else idx[w][:limit]
    x, y, _ = scale_rows(self.prep.data, jnp.asarray(idx), folds.lo[f], folds.scale[f])[:3]
    return x, y, idx

  def predict(self, params, x) -> np.ndarray:
    out = [self.forward(params, x[i:i + 128]) for i in range(0, x.shape[0], 128)]
    return np.asarray(jnp.argmax(jnp.concatenate(out), -1))


def _prune_one(models: Models, params, f: int, criterion: str, compensation: str,
               percent: int, seed: int):
  """One model pruned `percent` of each group under one criterion and compensation."""
  cfg = models.cfg
  x, y, _ = models.rows(f, "train", cfg.activation_rows)
  # taylor: the mean cross-entropy of those rows through the (pruned) network
  loss_fn = (lambda out: optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
             if criterion == "taylor" else None)
  record = {}
  for g in models.groups:
    k = units_to_prune(models.widths[g.name], percent)
    if k < 1:
      record[g.name] = {"units_left": models.widths[g.name], "skipped": "0 units at this "
                        "percentage"}
      continue
    params, rec = prune(models.run, params, x, groups=[g.name], criterion=criterion,
                        compensation=compensation, rule=cfg.prune.rule,
                        step=min(cfg.prune.step, k), max_pruned=k,
                        similar_deg=cfg.prune.similar_deg,
                        complementary_deg=cfg.prune.complementary_deg, order=cfg.prune.order,
                        beyond_thresholds=True, seed=seed, loss_fn=loss_fn)
    record.update(rec)
  return params, record


def prune_variant(wd, models: Models, criterion: str, compensation: str, percent: int,
                  full: bool = False):
  """Every model pruned under one (criterion, compensation, percentage): predicted test
  classes (folds, seeds, rows; -1 on padding), the units each group kept and, with `full`
  (for the regimes that retrain them), the pruned networks at the trained width (pruned
  filters zero, (F, S, ...)) with the kept units' indices per group; read from pruned/
  when a run before finished it."""
  name = f"pruned/{criterion}_{compensation}_{percent}.npz"
  if os.path.exists(wd.file(name)):
    z = np.load(wd.file(name))
    if not full or any(k.startswith("leaf/") for k in z.files):
      kept = {k[len("kept/"):]: z[k] for k in z.files if k.startswith("kept/")}
      return z["predicted"], kept, _full_of(models, z) if full else None
  rows = np.asarray(models.prep.folds.test_idx).shape[1]
  predicted = np.full((models.n_f, models.n_s, rows), -1, np.int32)
  kept, keep, wide = {}, {}, []
  for f in range(models.n_f):
    x, _, _ = models.rows(f, "test")
    for s in range(models.n_s):
      seed = models.prep.seeds[s]
      small, record = _prune_one(models, models.one(f, s), f, criterion, compensation,
                                 percent, seed)
      predicted[f, s, :x.shape[0]] = models.predict(small, x)
      for g, r in record.items():
        kept.setdefault(g, np.full((models.n_f, models.n_s), -1, np.int32))[f, s] = \
            r["units_left"]
        if "kept_units" in r and r["units_left"] < models.widths[g]:
          keep.setdefault(g, []).append(r["kept_units"])
      if full:
        wide.append(controls.expand(models, small, {g: r.get("kept_units") for g, r in
                                                    record.items()}, percent))
  extra = {}
  if full:
    leaves = jax.tree.leaves(controls.stack(models, wide))
    extra = {**{f"leaf/{i}": np.asarray(a) for i, a in enumerate(leaves)},
             **{f"keep/{g}": np.asarray(v, np.int32).reshape(models.n_f, models.n_s, -1)
                for g, v in keep.items()}}
  os.makedirs(wd.file("pruned"), exist_ok=True)
  wd.write_npz(name, predicted=predicted, **{f"kept/{g}": v for g, v in kept.items()},
               **extra)
  wd.log(f"pruned {percent}% by {criterion}/{compensation}: test accuracy "
         f"{_accuracy(models, predicted):.4f}")
  return predicted, kept, _full_of(models, extra) if full else None


def _full_of(models: Models, z):
  """(params (F, S, ...) at the trained width, {group: kept indices (F, S, k)}) of a
  pruned/ file written with `full`."""
  treedef = jax.tree.structure(models.params)
  n = treedef.num_leaves
  params = jax.tree.unflatten(treedef, [np.asarray(z[f"leaf/{i}"]) for i in range(n)])
  keep = {k[len("keep/"):]: np.asarray(z[k]) for k in z if k.startswith("keep/")}
  return params, keep


def _correct(models: Models, predicted) -> np.ndarray:
  y = np.asarray(models.prep.data[1])[np.asarray(models.prep.folds.test_idx)]
  return (predicted == y[:, None, :]).astype(np.float64)


def _accuracy(models: Models, predicted) -> float:
  w = np.asarray(models.prep.folds.test_w)[:, None, :]
  return float((_correct(models, predicted) * w).sum() / (w.sum() * predicted.shape[1]))


def cost(models: Models, percents) -> dict:
  """Parameters, multiply-adds per trial and inference time of the unpruned network and of
  each percentage's (the same for every criterion: same shapes), keyed "unpruned", "25%"."""
  x, _, _ = models.rows(0, "test", TIMING_ROWS)
  return pruned_costs(models.run, models.forward, models.groups, models.one(0, 0), x,
                      percents)


def cut_percent(groups, params, percent: Optional[int]):
  """`params` with `percent` of each of `groups` cut (None: as they are); the first units,
  as a network's cost depends on its shapes only."""
  from eegjax.pruning import drop_units
  widths = {g.name: g.size(params) for g in groups}       # before any is cut
  if percent is not None:
    for g in groups:
      k = units_to_prune(widths[g.name], percent)
      if k:
        params = drop_units(params, g, range(k))
  return params


def pruned_costs(run, forward, groups, params, x, percents, *, rounds: int = 5,
                 repeats: int = 2) -> dict:
  """The cost of `params`' network unpruned ("unpruned") and with each of `percents` of
  each of `groups` cut ("25%", ...; `cut_percent`): trainable parameters, multiply-adds per
  trial of `run` (the traced program at any size), each group's width, and the median ms
  of `forward` (its jit) on the trials `x`. The sizes are timed in turn, `rounds` rounds
  of `repeats` calls after one warm-up, and each size's time is the median of its round
  medians, so a spell of load on the machine falls on every size alike
  (`benchmarks/pruned_cnn.py` times the same way)."""
  sizes = {"unpruned": cut_percent(groups, params, None),
           **{f"{p}%": cut_percent(groups, params, p) for p in percents}}
  times = {k: [] for k in sizes}
  for _ in range(rounds):
    for k, q in sizes.items():
      times[k].append(latency_ms(forward, q, x, repeats=repeats, warmup=1))
  return {k: {"params": count_trainable(q), "macs_per_trial": multiply_adds(run, q, x[:1]),
              f"inference_ms_batch_{x.shape[0]}": float(np.median(times[k])),
              "units": {g.name: g.size(q) for g in groups}}
          for k, q in sizes.items()}


def compare(models: Models, correct, reference) -> dict:
  """The paired test that fits the protocol: one split -> the two-way bootstrap over seeds
  and test rows; k folds -> the corrected repeated-CV t-test of per-fold differences."""
  w = np.asarray(models.prep.folds.test_w)
  if models.n_f == 1:
    return stats.two_way_bootstrap(correct[0], reference[0], w[0])
  per_fold = [((correct[f] - reference[f])[:, w[f]]).mean() for f in range(models.n_f)]
  ratio = float(w.sum() / np.asarray(models.prep.folds.train_w).sum())
  return stats.corrected_t(np.asarray(per_fold), ratio)


def _mean_correct(models, correct, w) -> float:
  """Mean test accuracy of `_correct`'s array over the models and the weighted test rows."""
  return float((correct * w[:, None]).sum() / (w.sum() * models.n_s))


def _ci95(models, correct, w):
  """The bootstrap interval over seeds and test rows (one split), else None."""
  return stats.bootstrap_interval(correct[0], w[0]) if models.n_f == 1 else None


def _prune_variants(cfg, wd, models, w, base, arrays):
  """Every criterion x compensation x percentage pruned and measured against the unpruned
  network and (Holm over the family) against random. Returns the variants' table and the
  full-width pruned params the controls retrain; their predictions go into `arrays`."""
  table, pvals, pruned = {}, [], {}
  for percent in cfg.percents:
    for compensation in cfg.compensations:
      correct = {}
      for criterion in cfg.criteria:
        predicted, kept, wide = prune_variant(wd, models, criterion, compensation, percent,
                                              full=len(cfg.regimes) > 1)
        if wide is not None:
          pruned[(criterion, compensation, percent)] = wide
        label = f"{criterion}/{compensation}/{percent}"
        arrays[label] = predicted
        correct[criterion] = _correct(models, predicted)
        table[label] = {"criterion": criterion, "compensation": compensation,
                        "percent": percent,
                        "accuracy": _mean_correct(models, correct[criterion], w),
                        "ci95": _ci95(models, correct[criterion], w),
                        "vs_unpruned": compare(models, correct[criterion], base),
                        "units_kept": {g: v.tolist() for g, v in kept.items()}}
      for criterion in cfg.criteria:
        if criterion != "random" and "random" in correct:
          t = compare(models, correct[criterion], correct["random"])
          table[f"{criterion}/{compensation}/{percent}"]["vs_random"] = t
          pvals.append((f"{criterion}/{compensation}/{percent}", t["p"]))
  adjusted = stats.holm([p for _, p in pvals]) if pvals else []
  for (label, _), p in zip(pvals, adjusted):
    table[label]["vs_random"]["p_holm"] = float(p)
  return table, pruned


PRUNE_TABLE_HEADER = ["percent", "criterion", "compensation", "accuracy", "ci95_low",
                      "ci95_high", "diff_vs_unpruned", "p_vs_unpruned", "diff_vs_random",
                      "p_vs_random", "p_holm", "params", "macs_per_trial"]


def _prune_table_rows(table, costs) -> list:
  """prune_table.csv's rows (PRUNE_TABLE_HEADER), one per variant."""
  rows = []
  for t in table.values():
    vr, c = t.get("vs_random", {}), costs[f"{t['percent']}%"]
    rows.append([t["percent"], t["criterion"], t["compensation"], t["accuracy"],
                 *(t["ci95"] or ["", ""]), t["vs_unpruned"]["mean"], t["vs_unpruned"]["p"],
                 vr.get("mean", ""), vr.get("p", ""), vr.get("p_holm", ""),
                 c["params"], c["macs_per_trial"]])
  return rows


def _take_latency(costs) -> dict:
  """The inference timings moved out of `costs` (results.json) into timing.json's form."""
  timing = {k: {m: v for m, v in c_.items() if m.startswith("inference")}
            for k, c_ in costs.items()}
  for c_ in costs.values():
    for m in [m for m in c_ if m.startswith("inference")]:
      c_.pop(m)
  return timing


def prune_cnn(cfg: PruneCnnConfig, wd) -> Results:
  """Trains, prunes every variant at every percentage and measures: the study's sections in
  order (train, prune and measure, the controls, tables)."""
  c = cfg.classify
  prep = prepare(c, wd)
  regimes.declare(cfg, wd, prep)
  trainer, fit, _ = train(c, prep, wd)
  results = training_results(c, prep, trainer, fit, "prune_cnn")
  unpruned = trainer.evaluate(fit.params, prep.folds, prep.data, "test", predictions=True)
  models = Models(cfg, prep, fit.params)
  wd.log("prunable groups: " + ", ".join(f"{n} ({w})" for n, w in models.widths.items()))
  w = np.asarray(prep.folds.test_w)
  base = _correct(models, np.asarray(unpruned["predicted"]))
  arrays = {"labels": np.where(w, np.asarray(prep.data[1])[np.asarray(prep.folds.test_idx)],
                               -1), "unpruned": np.asarray(unpruned["predicted"]),
            "seeds": np.asarray(prep.seeds)}
  costs = cost(models, cfg.percents)
  table, pruned = _prune_variants(cfg, wd, models, w, base, arrays)
  rows = _prune_table_rows(table, costs)
  timing = _take_latency(costs)
  results["pruning"] = {
      "groups": models.widths, "costs": costs,
      "unpruned": {"accuracy": _mean_correct(models, base, w), "ci95": _ci95(models, base, w)},
      "variants": table,
      "protocol": ("every criterion prunes the same units per group (pair criteria past "
                   "their thresholds), so the pruned networks at a percentage have one "
                   "shape and cost; comparisons are paired on the same models and rows"),
      "test": ("two-way bootstrap over seeds and test rows" if models.n_f == 1 else
               "corrected repeated-CV t-test over folds"),
      "family_correction": "Holm over the comparisons with random"}
  extra = (controls.report(cfg, prep, wd, models, trainer, pruned, costs, results, arrays)
           if len(cfg.regimes) > 1 else {"tables": {}, "lines": [], "figures": [], "timing": {}})
  acc = results["summary"]["accuracy"]
  return Results(
      results, tables={"results.csv": run_table(results),
                       "prune_table.csv": (PRUNE_TABLE_HEADER, rows), **extra["tables"]},
      arrays={"history.npz": history_arrays(fit), "predictions.npz": arrays},
      figures=extra["figures"],
      timing={"compile_s": fit.compile_s, "train_run_s": fit.run_s, "latency": timing,
              **extra["timing"]},
      lines=[f"unpruned test accuracy {acc['mean']:.4f}; pruned: " + ", ".join(
          f"{k} {v['accuracy']:.4f}" for k, v in table.items())] + extra["lines"],
      closing=f"train {fit.run_s:.1f}s")
