"""The pruning-by-distinctiveness study (brainwave-music study), for the MLP's hidden layer
or the Elman RNN's hidden units:

  train every (fold, seed) model  ->  for each criterion (distinctiveness, its masked
  variant, magnitude, random):
    repeat: analyse the layer (angles over the training patterns) -> evaluate on the test
    fold as-is (and after fine-tuning) -> checkpoint -> prune `step` units
  -> prune_table.csv, results.json, checkpoints/, figures.

All models prune in lock-step (vmapped), so every step reports mean and 95% CI over
seeds x folds. Called by experiments/prune_mlp.py and experiments/prune_rnn.py. The
activations whose angles are compared are the MLP layer's outputs over the training rows,
or the RNN's hidden states over every valid time step of every training sequence.
"""

from __future__ import annotations

import os
import time
from typing import Optional

import jax.numpy as jnp
import numpy as np

from eegjax.evaluate import prune_tables, stats
from eegjax.studies.common import (classifier, pruned_layer, regimes, regimes_figure,
                                   regimes_report)
from eegjax.studies.prune import figures
from eegjax.studies.common.pruned_layer import PruneStudyConfig, restore_pruned
from eegjax.run.checkpoints import Checkpoints, median_save_ms
from eegjax.run.lifecycle import Results, run_study


__all__ = ["PruneStudyConfig", "restore_pruned", "run"]   # the study's public names

# Pruning checkpoints: the sizes of about this many seconds of work saved as one (an orbax
# save, ~60 ms, took longer than a step of the main job's MLP: 11 s of its 57 s of pruning)
SAVE_EVERY_S = 20.0

PREDICTIONS_LAYOUT = (
    "labels (folds, rows): each test row's true class, -1 on padding; rows (folds, rows): "
    "its index in the dataset; unpruned (folds, seeds, rows): the trained models' predicted "
    "class; '<criterion>/<compensation>[/masked]/<units pruned>' (folds, seeds, rows): the "
    "pruned models' predicted class, -1 on padding; folds are the outer (fold x repetition) "
    "axis of results.json, seeds its seeds in order; with --regimes also "
    "'finetune/<criterion>/<compensation>/<units pruned>' (the pruned network retrained), "
    "'scratch/<units pruned>' (that architecture trained from a fresh initialisation) and "
    "'uniform/<units pruned>' (every layer narrowed evenly to its multiply-adds; absent "
    "where it is the scratch network)")


def predictions(protocol: dict, prep, fit, trainer, per_variant: dict,
                controls=None) -> dict:
  """predictions.npz's arrays: every test row's label and, per variant and size, every
  model's predicted class (PREDICTIONS_LAYOUT), so any statistic can be recomputed."""
  unpruned = trainer.evaluate(fit.params, prep.folds, prep.data, "test", predictions=True)
  arrays = {"labels": protocol["labels"],
            "rows": np.where(np.asarray(prep.folds.test_w), np.asarray(prep.folds.test_idx),
                             -1),
            "unpruned": np.asarray(unpruned["predicted"]),
            "seeds": np.asarray(prep.seeds)}
  for name, o in per_variant.items():
    for r in o["rows"]:
      arrays[f"{name}/{r['units_pruned']}"] = np.asarray(r["predicted"], np.int32)
  for regime, by_name in ({} if controls is None else controls["rows"]).items():
    for name, rows in by_name.items():
      for r in rows:
        if regime != "oneshot" and not r.get("same_as"):
          key = f"{regime}/{r['units_pruned']}" if name == regime else \
              f"{regime}/{name}/{r['units_pruned']}"
          arrays[key] = np.asarray(r["predicted"], np.int32)
  return arrays


def run(cfg: PruneStudyConfig, flagfile_text: Optional[str] = None) -> dict:
  """Trains, prunes under every criterion and writes the workdir (through the one
  runner); returns results."""
  return run_study(cfg, flagfile_text, lambda wd: prune(cfg, wd))


def prune(cfg: PruneStudyConfig, wd) -> Results:
  """The study itself (see the module's docstring): its results, tables, predictions,
  figures and timing, for the runner to write."""
  prep = classifier.prepare(cfg.classify, wd)
  controls = len(cfg.regimes) > 1
  regimes.declare(cfg, wd, prep)       # the primary comparisons, before any number exists
  trainer, fit, train_ckpt = classifier.train(cfg.classify, prep, wd)
  study = f"prune_{cfg.classify.model}"
  results = classifier.training_results(cfg.classify, prep, trainer, fit, study)
  wd.log(f"pruning hidden layer {cfg.layer} ({cfg.classify.hidden_sizes[cfg.layer]} units), "
         f"{cfg.prune.step} per step, rule {cfg.prune.rule}, order {cfg.prune.order}, "
         f"thresholds {cfg.prune.similar_deg}/{cfg.prune.complementary_deg} degrees, "
         f"criteria {list(cfg.criteria)}")

  cache, t_prune = {}, time.perf_counter()
  per_criterion, ckpt_dirs, save_s = prune_every_variant(cfg, prep, fit, wd, cache)
  prune_s = time.perf_counter() - t_prune
  width = cfg.classify.hidden_sizes[cfg.layer]
  full = pruned_layer.programs(cache, cfg, prep)
  t_regimes = time.perf_counter()
  controls = regimes.run(cfg, prep, wd, full, per_criterion, ckpt_dirs) if controls else None
  regimes_s = time.perf_counter() - t_regimes
  everyone = jnp.ones((len(prep.parts), len(prep.seeds), width), bool)
  trained_angles = np.asarray(full.analyse(full.gram(fit.params)["gram"], everyone)[0])

  protocol = prune_tables.protocol_of(prep.parts, prep.ds.y, prep.folds.test_idx,
                                prep.folds.test_w)
  paired = prune_tables.paired_differences(per_criterion, protocol)
  arrays = {"history.npz": classifier.history_arrays(fit),
            "predictions.npz": predictions(protocol, prep, fit, trainer, per_criterion,
                                           controls)}
  prune_table = prune_tables.prune_table(per_criterion, cfg.classify.train.grad_clip,
                                         bool(cfg.finetune_epochs), paired)
  tables = {"prune_table.csv": prune_table}

  results["pruning"] = pruning_section(cfg, per_criterion, protocol, paired)
  if controls is not None:
    controls["comparisons"] = regimes_report.comparisons(cfg, controls, protocol)
    results["pruning"]["regimes"] = regimes_report.results_section(cfg, controls)
    tables["regimes_table.csv"] = regimes_report.table(controls)
  results["predictions"] = {"file": "predictions.npz", "layout": PREDICTIONS_LAYOUT}
  results["dataset"]["note"] = ("synthetic data: figures test the method, they are not "
                                "findings about EEG") if prep.kind == "synthetic" else ""
  timing = prune_timing(cfg, fit, train_ckpt, prune_s, save_s, per_criterion)
  title = f"{prep.raw.info.name} ({prep.kind})"
  drawn = prune_figures(cfg, per_criterion, paired, timing, trained_angles, title)
  if controls is not None:
    oneshot = {n: o["rows"] for n, o in per_criterion.items()}
    first = next(iter(per_criterion.values()))["rows"][0]["summary"]["accuracy"]["mean"]
    drawn += [(f"regimes_{cost}.png", lambda path, cost=cost: regimes_figure.accuracy_vs_cost(
        oneshot, controls, first, path, title, cost)) for cost in ("macs", "params")]
  lines = summary_lines(paired, protocol)
  if controls is not None:
    timing["regimes_s"] = regimes_s
    timing["regimes_training"] = controls["training"]
    lines += regimes_report.summary_lines(controls)
  return Results(results, tables={**tables, "results.csv": classifier.run_table(results)},
                 arrays=arrays, figures=drawn, timing=timing, lines=lines,
                 closing=f"training {fit.run_s:.1f}s, pruning {prune_s:.1f}s")


def prune_every_variant(cfg: PruneStudyConfig, prep, fit, wd, cache: dict):
  """Each (criterion, compensation) variant pruned from the trained networks through the
  one pruning loop, checkpointed under checkpoints/<variant>: ({variant: its rows,
  actions, ...}, {variant: its checkpoint folder}, checkpoint save seconds)."""
  per_criterion, ckpt_dirs, opened = {}, {}, []
  try:
    for pcfg in cfg.variants():
      ckpt_dirs[pcfg.label] = os.path.join(wd.file("checkpoints"),
                                           pruned_layer.checkpoint_dir(pcfg))
      opened.append(Checkpoints(ckpt_dirs[pcfg.label], keep=None, log=wd.log))
      per_criterion[pcfg.label] = pruned_layer.run_criterion(
          cfg, prep, fit.params, pcfg, wd, opened[-1], cache, SAVE_EVERY_S)
  finally:   # a variant's last checkpoint is written while the next one prunes
    for ckpt in opened:
      ckpt.close()
  return per_criterion, ckpt_dirs, [s for c in opened for s in c.save_seconds]


def summary_lines(paired: dict, protocol: dict) -> list[str]:
  """Each criterion minus distinctiveness at its middle size, one log line each."""
  test_name = "two-way bootstrap" if protocol["folds"] == 1 else "corrected repeated-CV t"
  lines = []
  for crit, rows in paired.items():
    mid = rows[len(rows) // 2]
    a = mid["accuracy"]
    lines.append(f"{crit} minus {mid['reference']} at {mid['units_pruned']} pruned: accuracy "
                 f"{a['mean']:+.4f} [{a['ci95'][0]:+.4f}, {a['ci95'][1]:+.4f}], p = "
                 f"{a['p']:.3g}, Holm {a['p_holm']:.3g} ({test_name})")
  return lines


def pruning_section(cfg: PruneStudyConfig, per_criterion: dict, protocol: dict,
                    paired: dict) -> dict:
  """results.json's "pruning": the settings, every variant's steps and actions, and the
  paired differences against distinctiveness."""
  return {
      "layer": cfg.layer, "step": cfg.prune.step, "rule": cfg.prune.rule,
      "order": cfg.prune.order, "compensations": list(cfg.compensations),
      "masked": cfg.masked, "limit": cfg.limit,
      "similar_deg": cfg.prune.similar_deg, "complementary_deg": cfg.prune.complementary_deg,
      "finetune_epochs": cfg.finetune_epochs,
      "optimizer_state_after_pruning": "re-initialised for fine-tuning",
      "notation": "(k->d): unit d merged into unit k (c=... the scaled rule's factor); "
                  "-d removed; -d~ removed as one of a complementary pair; unit numbers "
                  "are the trained layer's; -d= a constant unit removed first; under a "
                  "score criterion with compensation merge (k->d) names d's partner",
      # one entry per variant, criterion/compensation[/masked]
      "criteria": {c: {"stop": o["stop"],
                       # timings live in timing.json, predictions in predictions.npz:
                       # results.json stays deterministic and small
                       "steps": [{k: v for k, v in r.items()
                                  if not k.endswith("_ms") and k != "predicted"}
                                 for r in o["rows"]],
                       "actions": o["actions"]} for c, o in per_criterion.items()},
      # each criterion minus distinctiveness under the same compensation, on the same
      # models at the same size, by the test that fits the protocol
      "paired_vs_distinctiveness": {
          "method": prune_tables.method_of(protocol), "folds": protocol["folds"],
          "test_train_ratio": protocol["test_train_ratio"],
          "multiple_comparisons": stats.HOLM, "metrics": paired},
  }


def prune_timing(cfg: PruneStudyConfig, fit, train_ckpt, prune_s: float, save_s: list,
               per_criterion: dict) -> dict:
  """timing.json: training, pruning and checkpoint times, and every step's."""
  return {"num_devices": cfg.classify.num_devices,
          "train_compile_s": fit.compile_s, "train_run_s": fit.run_s, "prune_s": prune_s,
          "train_checkpoint_save_ms_median": median_save_ms(train_ckpt),
          "prune_checkpoint_save_ms_median": float(np.median(save_s) * 1e3) if save_s else 0.0,
          # analyse_ms: Gram matrices, angles and test evaluation of every model at a
          # size; step_ms: the step after it (choice and surgery); exec_ms: one cut
          # model's inference on TIMING_ROWS test rows (measured once per width)
          "per_step_ms": {c: [{"units_pruned": r["units_pruned"], "exec_ms": r["exec_ms"],
                             "analyse_ms": r["analyse_ms"],
                             "step_ms": o["step_ms"].get(r["units_pruned"])}
                            for r in o["rows"]]
                        for c, o in per_criterion.items()}}


def prune_figures(cfg: PruneStudyConfig, per_criterion: dict, paired: dict, timing: dict,
                  trained_angles, title: str) -> list:
  """The study's figures as (file name, draw(path))."""
  first = next((o for o in per_criterion.values()
                if o["rows"] and o["rows"][0]["criterion"] == "distinctiveness"), None)
  drawn = [
      ("prune_metrics.png", lambda path: figures.prune_metrics(per_criterion, path, title)),
      ("prune_exec_time.png", lambda path: figures.exec_time(timing["per_step_ms"], path,
                                                             title))]
  if paired:
    drawn.append(("prune_paired.png",
                  lambda path: figures.paired_differences(paired, path, title)))
  if first is not None:
    drawn.append(("prune_min_angle.png",
                  lambda path: figures.angle_vs_performance(first["rows"], path, title)))
  drawn.append(("angles.png", lambda path: figures.angles(
      trained_angles, path, title, cfg.prune.similar_deg, cfg.prune.complementary_deg)))
  return drawn
