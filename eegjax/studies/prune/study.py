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
from eegjax.studies.common import classifier, pruned_layer
from eegjax.studies.prune import figures
from eegjax.studies.common.pruned_layer import PruneStudyConfig, restore_pruned
from eegjax.run.checkpoints import Checkpoints, median_save_ms


__all__ = ["PruneStudyConfig", "restore_pruned", "run"]   # the study's public names

PREDICTIONS_LAYOUT = (
    "labels (folds, rows): each test row's true class, -1 on padding; rows (folds, rows): "
    "its index in the dataset; unpruned (folds, seeds, rows): the trained models' predicted "
    "class; '<criterion>/<compensation>[/masked]/<units pruned>' (folds, seeds, rows): the "
    "pruned models' predicted class, -1 on padding; folds are the outer (fold x repetition) "
    "axis of results.json, seeds its seeds in order")


def write_predictions(wd, protocol: dict, prep, fit, trainer, per_variant: dict) -> None:
  """predictions.npz: every test row's label and, per variant and size, every model's
  predicted class (PREDICTIONS_LAYOUT), so any statistic can be recomputed."""
  unpruned = trainer.evaluate(fit.params, prep.folds, prep.data, "test", predictions=True)
  arrays = {"labels": protocol["labels"],
            "rows": np.where(np.asarray(prep.folds.test_w), np.asarray(prep.folds.test_idx),
                             -1),
            "unpruned": np.asarray(unpruned["predicted"]),
            "seeds": np.asarray(prep.seeds)}
  for name, o in per_variant.items():
    for r in o["rows"]:
      arrays[f"{name}/{r['units_pruned']}"] = np.asarray(r["predicted"], np.int32)
  wd.write_npz("predictions.npz", **arrays)


def run(cfg: PruneStudyConfig, flagfile_text: Optional[str] = None) -> dict:
  """Trains, prunes under every criterion and writes the workdir; returns results."""
  t_start = time.perf_counter()
  wd, prep = classifier.begin(cfg, flagfile_text)
  if prep is None:
    return wd.read_json("results.json")
  trainer, fit, train_ckpt = classifier.train(cfg.classify, prep, wd)
  study = f"prune_{cfg.classify.model}"
  results = classifier.training_results(cfg.classify, prep, trainer, fit, study)
  classifier.write_history(wd, fit)
  wd.log(f"pruning hidden layer {cfg.layer} ({cfg.classify.hidden_sizes[cfg.layer]} units), "
         f"{cfg.prune.step} per step, rule {cfg.prune.rule}, order {cfg.prune.order}, "
         f"thresholds {cfg.prune.similar_deg}/{cfg.prune.complementary_deg} degrees, "
         f"criteria {list(cfg.criteria)}")

  per_criterion, cache, t_prune, save_s = {}, {}, time.perf_counter(), []
  for pcfg in cfg.variants():
    ckpt = Checkpoints(os.path.join(wd.file("checkpoints"), pruned_layer.checkpoint_dir(pcfg)),
                       keep=None, log=wd.log)
    per_criterion[pcfg.label] = pruned_layer.run_criterion(cfg, prep, fit.params, pcfg,
                                                             wd, ckpt, cache)
    ckpt.close()
    save_s += ckpt.save_seconds
  prune_s = time.perf_counter() - t_prune
  width = cfg.classify.hidden_sizes[cfg.layer]
  full = pruned_layer.programs(cache, cfg, prep)
  everyone = jnp.ones((len(prep.parts), len(prep.seeds), width), bool)
  trained_angles = np.asarray(full.analyse(full.gram(fit.params)["gram"], everyone)[0])

  protocol = prune_tables.protocol_of(prep.parts, prep.ds.y, prep.folds.test_idx,
                                prep.folds.test_w)
  paired = prune_tables.paired_differences(per_criterion, protocol)
  write_predictions(wd, protocol, prep, fit, trainer, per_criterion)
  header, table = prune_tables.prune_table(per_criterion, cfg.classify.train.grad_clip,
                                     bool(cfg.finetune_epochs), paired)
  wd.write_csv("prune_table.csv", header, table)

  results["pruning"] = {
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
  results["predictions"] = {"file": "predictions.npz", "layout": PREDICTIONS_LAYOUT}
  results["dataset"]["note"] = ("synthetic data: figures test the method, they are not "
                                "findings about EEG") if prep.kind == "synthetic" else ""
  timing = {"num_devices": cfg.classify.num_devices,
            "train_compile_s": fit.compile_s, "train_run_s": fit.run_s, "prune_s": prune_s,
            "train_checkpoint_save_ms_median": median_save_ms(train_ckpt),
            "prune_checkpoint_save_ms_median": float(np.median(save_s) * 1e3) if save_s else 0.0,
            # analyse_ms: Gram matrices, angles and test evaluation of every model at a
            # size; step_ms: the step after it (choice and surgery); exec_ms: one cut
            # model's inference on TIMING_ROWS test rows
            "per_step_ms": {c: [{"units_pruned": r["units_pruned"], "exec_ms": r["exec_ms"],
                                 "analyse_ms": r["analyse_ms"],
                                 "step_ms": o["step_ms"].get(r["units_pruned"])}
                                for r in o["rows"]]
                            for c, o in per_criterion.items()}}
  wd.write_json("results.json", results)
  classifier.write_run_table(wd, results)

  title = f"{prep.raw.info.name} ({prep.kind})"
  figures.prune_metrics(per_criterion, wd.file("prune_metrics.png"), title)
  figures.exec_time(timing["per_step_ms"], wd.file("prune_exec_time.png"), title)
  if paired:
    figures.paired_differences(paired, wd.file("prune_paired.png"), title)
  first = next((o for o in per_criterion.values()
                if o["rows"] and o["rows"][0]["criterion"] == "distinctiveness"), None)
  if first is not None:
    figures.angle_vs_performance(first["rows"], wd.file("prune_min_angle.png"), title)
  figures.angles(trained_angles, wd.file("angles.png"), title, cfg.prune.similar_deg,
               cfg.prune.complementary_deg)
  timing["total_s"] = time.perf_counter() - t_start
  wd.write_json("timing.json", timing)
  test_name = "two-way bootstrap" if protocol["folds"] == 1 else "corrected repeated-CV t"
  for crit, rows in paired.items():
    mid = rows[len(rows) // 2]
    a = mid["accuracy"]
    wd.log(f"{crit} minus {mid['reference']} at {mid['units_pruned']} pruned: accuracy "
           f"{a['mean']:+.4f} [{a['ci95'][0]:+.4f}, {a['ci95'][1]:+.4f}], p = {a['p']:.3g}, "
           f"Holm {a['p_holm']:.3g} ({test_name})")
  wd.finish(f"wrote {wd.path}: prune_table.csv results.json predictions.npz checkpoints/ *.png "
         f"(training {fit.run_s:.1f}s, pruning {prune_s:.1f}s, total {timing['total_s']:.1f}s)")
  return results
