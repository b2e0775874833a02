"""The pruning-by-distinctiveness study (brainwave-music study), for the MLP's hidden layer
or the Elman RNN's hidden units:

  train every (fold, seed) model  ->  for each criterion (distinctiveness, its masked
  variant, magnitude, random):
    repeat: analyse the layer (angles over the training patterns) -> evaluate on the test
    fold as-is (and after fine-tuning) -> checkpoint -> prune `step` units
  -> prune_table.csv, results.json, checkpoints/, plots.

All models prune in lock-step (vmapped), so every step reports mean and 95% CI over
seeds x folds. Called by experiments/prune_mlp.py and experiments/prune_rnn.py. The
activations whose angles are compared are the MLP layer's outputs over the training rows,
or the RNN's hidden states over every valid time step of every training sequence.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import ConfigError
from eegjax.evaluate import plots, report
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import summarize
from eegjax.pruning.discover import discover_groups
from eegjax.pruning.progressive import CRITERIA, PruneConfig
from eegjax.settings import setting
from eegjax.studies import classification, prune_loop, prune_programs
from eegjax.studies.classification import (ClassifyConfig, Prepared, WrapsClassify,
                                           build_model)
from eegjax.train import Trainer
from eegjax.train.checkpoint import Checkpoints, median_save_ms


@dataclasses.dataclass(frozen=True)
class PruneStudyConfig(WrapsClassify):
  classify: ClassifyConfig
  prune: PruneConfig = PruneConfig()
  criteria: tuple[str, ...] = setting(
      CRITERIA, "pruning criteria to compare at equal size: distinctiveness (structural), "
      "distinctiveness_masked (zeroed, size kept: the music study's RNN variant), "
      "magnitude, random")
  layer: int = setting(0, "hidden layer to prune (0-based)", flag="prune_layer")
  finetune_epochs: int = setting(0, "retrain this many epochs after every step (0 = "
                                 "evaluate as-is only)")

  def __post_init__(self):
    c = self.classify
    if not 0 <= self.layer < len(c.hidden_sizes):
      raise ConfigError(f"--prune_layer={self.layer}: the MLP has hidden layers "
                        f"0..{len(c.hidden_sizes) - 1}")
    if not self.criteria:
      raise ConfigError("--criteria is empty; expected some of " + ",".join(CRITERIA))
    for crit in self.criteria:   # each criterion validated by PruneConfig
      if self.pruning(crit).masked and self.finetune_epochs:
        raise ConfigError(f"--finetune_epochs with --criteria={crit}: fine-tuning would move "
                          "the zeroed weights (masked updates are not implemented); drop "
                          "one of them")
    self.prune.check_width(c.hidden_sizes[self.layer])
    if self.finetune_epochs < 0:
      raise ConfigError(f"--finetune_epochs={self.finetune_epochs}: expected >= 0")

  def pruning(self, criterion: str) -> PruneConfig:
    return dataclasses.replace(self.prune, criterion=criterion)

  @property
  def limit(self) -> int:
    """Units to prune at most: a whole number of steps, leaving at least one unit."""
    return self.prune.limit(self.classify.hidden_sizes[self.layer])

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "classify": self.classify.to_json()}


def _summaries(values: dict) -> dict:
  return {k: summarize(v) for k, v in values.items()}


def run_criterion(cfg: PruneStudyConfig, prep: Prepared, params, criterion: str,
                  wd, ckpt: Checkpoints, cache: dict) -> dict:
  """Progressive pruning of every model under one criterion through the one pruning loop
  (`prune_loop.run`); one row per size. Returns {rows, actions, stop, params, alive}:
  `params` are the last evaluated (smallest) networks. `cache` keeps the study's compiled
  programs (one set at the trained width) across criteria."""
  width = cfg.classify.hidden_sizes[cfg.layer]
  pcfg = cfg.pruning(criterion)
  prog = prune_programs.programs(cache, cfg, prep)
  size = (lambda n: width) if pcfg.masked else (lambda n: width - n)   # the network's width

  def measure(params, alive, n):
    t0 = time.perf_counter()
    grams = prog.gram(params)
    _, min_ang, pairs = (np.asarray(a) for a in prog.analyse(grams, alive))
    test = prog.trainer.evaluate(params, prep.folds, prep.data, "test")
    analyse_ms = 1e3 * (time.perf_counter() - t0)
    exec_ms = prog.timer(params, None if pcfg.masked else alive)   # the cut network
    values = {"pairs": pairs, **{k: test[k] for k in SCALARS}, "min_angle": min_ang}
    row = {"criterion": criterion, "units_pruned": n, "hidden_units": width - n,
           "summary": _summaries(values), "exec_ms": exec_ms, "analyse_ms": analyse_ms}
    if cfg.finetune_epochs and n > 0:
      params, grams = _finetune(cfg, prep, prog, params, alive), None   # activations moved
      tuned = prog.trainer.evaluate(params, prep.folds, prep.data, "test")
      row["finetuned"] = _summaries({k: tuned[k] for k in SCALARS})
    acc = row["summary"]["accuracy"]
    wd.log(f"{criterion}: {n:3d} pruned, {width - n:3d} units  accuracy {acc['mean']:.4f} "
           f"[{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}]  min angle "
           f"{row['summary']['min_angle']['mean']:.1f}  pairs "
           f"{row['summary']['pairs']['mean']:.1f}")
    return row, grams, params

  family = prune_loop.Family(
      group=prog.group, measure=measure, grams=lambda p, n: prog.gram(p),
      keys=lambda n: prune_programs.random_keys(prep.seeds, prep.folds.fold_id, n),
      meta=lambda n: {
          "criterion": criterion, "rule": cfg.prune.rule, "units_pruned": n, "layer": cfg.layer,
          "family": cfg.classify.model, "masked": pcfg.masked,
          "hidden_sizes": list(prune_programs.sizes(cfg, size(n))),
          "stored_hidden_sizes": list(cfg.classify.hidden_sizes),
          "input_shape": list(prep.ds.x.shape[1:]),
          "activation": cfg.classify.activation, "cell": cfg.classify.cell,
          "leading_axes": ["fold", "seed"]},
      log=wd.log, num_devices=cfg.classify.num_devices,
      model_name=lambda f, s: f"seed {prep.seeds[s]}, fold {f}")
  return prune_loop.run(family, pcfg, params, width, cfg.limit, cfg.prune.beyond_thresholds,
                        ckpt, criterion)


def _finetune(cfg: PruneStudyConfig, prep: Prepared, prog, params, alive):
  """The pruned networks trained --finetune_epochs more. They train cut to their living
  units (a dead unit at full width would still learn outgoing weights from its constant
  activation), then go back to the full-width layout with the dead units zero. The one
  part of the study compiled per width."""
  small = prune_loop.cut(params, alive, prog.group)
  width = prog.group.size(jax.tree.map(lambda a: a[0, 0], small))
  ft_cfg = dataclasses.replace(cfg.classify.train,
                               epochs=cfg.classify.train.epochs + cfg.finetune_epochs)
  model = prune_programs.build(cfg.classify, prune_programs.sizes(cfg, width),
                               prep.ds.num_classes)
  ft = Trainer(model, ft_cfg, has_val=False, num_devices=cfg.classify.num_devices)
  fit = ft.fit(prep.seeds, prep.folds, prep.data, state=ft.start_from(small),
               start_epoch=cfg.classify.train.epochs, log=lambda m: None)
  return prune_loop.uncut(fit.params, alive, prog.group, params)


def run(cfg: PruneStudyConfig, flagfile_text: Optional[str] = None) -> dict:
  """Trains, prunes under every criterion and writes the workdir; returns results."""
  t_start = time.perf_counter()
  wd = classification.start(cfg, flagfile_text)
  if wd.finished:
    return wd.read_json("results.json")
  prep = classification.prepare(cfg.classify, wd)
  trainer, fit, train_ckpt = classification.train(cfg.classify, prep, wd)
  study = f"prune_{cfg.classify.model}"
  results = classification.training_results(cfg.classify, prep, trainer, fit, study)
  classification.write_history(wd, fit)
  wd.log(f"pruning hidden layer {cfg.layer} ({cfg.classify.hidden_sizes[cfg.layer]} units), "
         f"{cfg.prune.step} per step, rule {cfg.prune.rule}, order {cfg.prune.order}, "
         f"thresholds {cfg.prune.similar_deg}/{cfg.prune.complementary_deg} degrees, criteria {list(cfg.criteria)}")

  per_criterion, cache, t_prune, save_s = {}, {}, time.perf_counter(), []
  for criterion in cfg.criteria:
    ckpt = Checkpoints(os.path.join(wd.file("checkpoints"), criterion), keep=None, log=wd.log)
    per_criterion[criterion] = run_criterion(cfg, prep, fit.params, criterion, wd, ckpt,
                                             cache)
    ckpt.close()
    save_s += ckpt.save_seconds
  prune_s = time.perf_counter() - t_prune
  width = cfg.classify.hidden_sizes[cfg.layer]
  full = prune_programs.programs(cache, cfg, prep)
  everyone = jnp.ones((len(prep.parts), len(prep.seeds), width), bool)
  trained_angles = np.asarray(full.analyse(full.gram(fit.params), everyone)[0])

  header, table = report.prune_table(per_criterion, cfg.classify.train.grad_clip,
                                     bool(cfg.finetune_epochs))
  wd.write_csv("prune_table.csv", header, table)

  results["pruning"] = {
      "layer": cfg.layer, "step": cfg.prune.step, "rule": cfg.prune.rule,
      "order": cfg.prune.order,
      "limit": cfg.limit,
      "similar_deg": cfg.prune.similar_deg, "complementary_deg": cfg.prune.complementary_deg,
      "finetune_epochs": cfg.finetune_epochs,
      "optimizer_state_after_pruning": "re-initialised for fine-tuning",
      "notation": "(k->d): unit d merged into unit k (c=... the scaled rule's factor); "
                  "-d removed; -d~ removed as one of a complementary pair; unit numbers "
                  "are the trained layer's",
      "criteria": {c: {"stop": o["stop"],
                       # timings live in timing.json: results.json stays deterministic
                       "steps": [{k: v for k, v in r.items() if not k.endswith("_ms")}
                                 for r in o["rows"]],
                       "actions": o["actions"]} for c, o in per_criterion.items()},
  }
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
  classification.write_run_table(wd, results)

  title = f"{prep.raw.info.name} ({prep.kind})"
  plots.prune_metrics(per_criterion, wd.file("prune_metrics.png"), title)
  plots.exec_time(timing["per_step_ms"], wd.file("prune_exec_time.png"), title)
  if "distinctiveness" in per_criterion:
    plots.angle_vs_performance(per_criterion["distinctiveness"]["rows"],
                               wd.file("prune_min_angle.png"), title)
  plots.angles(trained_angles, wd.file("angles.png"), title, cfg.prune.similar_deg,
               cfg.prune.complementary_deg)
  timing["total_s"] = time.perf_counter() - t_start
  wd.write_json("timing.json", timing)
  wd.log(f"wrote {wd.path}: prune_table.csv results.json checkpoints/ *.png "
         f"(training {fit.run_s:.1f}s, pruning {prune_s:.1f}s, total {timing['total_s']:.1f}s)")
  return results


def restore_pruned(workdir: str, criterion: str, units_pruned: int):
  """(model, params with leading (fold, seed) axes, meta) of a pruned checkpoint: the
  network cut to its living units (with a masked criterion: at full width, the pruned
  units zero)."""
  path = os.path.join(os.path.abspath(workdir), "checkpoints", criterion)
  ckpt = Checkpoints(path, keep=None)
  if units_pruned not in ckpt.steps():
    raise ConfigError(f"{path}: no checkpoint for {units_pruned} pruned units; have "
                      f"{ckpt.steps()}")
  arrays, meta = ckpt.restore(units_pruned)
  ckpt.close()
  params = arrays["params"]
  head = "readout" if meta["family"] == "rnn" else f"Dense_{len(meta['hidden_sizes'])}"
  num_classes = int(params["params"][head]["kernel"].shape[-1])
  build = functools.partial(build_model, meta["family"], num_classes=num_classes,
                            activation=meta["activation"], cell=meta.get("cell", "elman"))
  if not meta["masked"]:
    full = build(meta["stored_hidden_sizes"])
    example = (jnp.zeros((2, *meta["input_shape"])),)
    if meta["family"] == "rnn":
      example += (jnp.full((2,), meta["input_shape"][0]),)
    group = [g for g in discover_groups(full.apply, jax.tree.map(lambda a: a[0, 0], params),
                                        *example) if g.prunable][meta["layer"]]
    params = prune_loop.cut(params, arrays["alive"], group)
  return build(meta["hidden_sizes"]), params, meta
