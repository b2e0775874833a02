"""The classification study (train_mlp.py / train_rnn.py): load -> inputs -> folds -> one
vmapped training program -> metrics per seed and fold -> summaries -> workdir, all through
the shared classifier (`eegjax.studies.common.classifier`).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from eegjax.evaluate.timing import latency_ms
from eegjax.run.checkpoints import median_save_ms
from eegjax.run.lifecycle import Results, run_study
from eegjax.studies.common.classifier import (ClassifyConfig, history_arrays, prepare,
                                              run_table, train, training_results)


def run(cfg: ClassifyConfig, flagfile_text: Optional[str] = None,
        study: Optional[str] = None) -> dict:
  """Runs the classification study through the one runner; returns the results dict."""
  return run_study(cfg, flagfile_text, lambda wd: classify(cfg, wd, study))


def classify(cfg: ClassifyConfig, wd, study: Optional[str] = None) -> Results:
  """Trains every (fold, seed) model and measures it: results.json, results.csv,
  history.npz, timing.json."""
  prep = prepare(cfg, wd)
  trainer, fit, ckpt = train(cfg, prep, wd)
  results = training_results(cfg, prep, trainer, fit, study or f"train_{cfg.model}")
  ds, model = prep.ds, prep.model
  one = jax.tree.map(lambda a: a[0, 0], fit.params)
  x_eval = jnp.asarray(ds.x[:min(64, ds.num_examples)])
  if cfg.model == "mlp":
    lat = latency_ms(jax.jit(model.apply), one, x_eval)
  else:
    apply = jax.jit(lambda p, x, l: model.apply(p, x, lengths=l))
    lat = latency_ms(apply, one, x_eval, prep.data[2][:x_eval.shape[0]], repeats=5, warmup=1)
  n_models = len(prep.parts) * cfg.num_seeds
  acc = results["summary"]["accuracy"]
  return Results(
      results, tables={"results.csv": run_table(results)},
      arrays={"history.npz": history_arrays(fit)},
      timing={"compile_s": fit.compile_s, "train_run_s": fit.run_s,
              "checkpoint_save_ms_median": median_save_ms(ckpt),
              "checkpoints_saved": len(ckpt.save_seconds),
              "ms_per_seed_fold": 1e3 * fit.run_s / n_models,
              f"inference_ms_batch_{x_eval.shape[0]}": lat, "devices": str(jax.devices()),
              "num_devices": cfg.num_devices},
      lines=[f"test accuracy {acc['mean']:.4f} (95% CI {acc['ci95'][0]:.4f}-"
             f"{acc['ci95'][1]:.4f}, n={acc['n']}), F1 "
             f"{results['summary']['f1']['mean']:.4f}  [{prep.kind} data: "
             f"{prep.raw.info.name}]"],
      closing=f"train {fit.run_s:.1f}s + compile {fit.compile_s:.1f}s")
