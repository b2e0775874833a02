"""The classification study (train_mlp.py / train_rnn.py): load -> inputs -> folds -> one
vmapped training program -> metrics per seed and fold -> summaries -> workdir, all through
the shared classifier (`eegjax.studies.common.classifier`).
"""

from __future__ import annotations

import time
from typing import Optional

import jax
import jax.numpy as jnp

from eegjax.evaluate.timing import latency_ms
from eegjax.studies.common.classifier import (ClassifyConfig, begin, train, training_results,
                                      write_history, write_run_table)
from eegjax.run.checkpoints import median_save_ms


def run(cfg: ClassifyConfig, flagfile_text: Optional[str] = None,
        study: Optional[str] = None) -> dict:
  """Runs the classification study and writes the workdir; returns the results dict."""
  t_start = time.perf_counter()
  wd, prep = begin(cfg, flagfile_text)
  if prep is None:
    return wd.read_json("results.json")
  trainer, fit, ckpt = train(cfg, prep, wd)
  results = training_results(cfg, prep, trainer, fit, study or f"train_{cfg.model}")
  wd.write_json("results.json", results)
  write_run_table(wd, results)
  write_history(wd, fit)

  ds, model = prep.ds, prep.model
  one = jax.tree.map(lambda a: a[0, 0], fit.params)
  x_eval = jnp.asarray(ds.x[:min(64, ds.num_examples)])
  if cfg.model == "mlp":
    lat = latency_ms(jax.jit(model.apply), one, x_eval)
  else:
    apply = jax.jit(lambda p, x, l: model.apply(p, x, lengths=l))
    lat = latency_ms(apply, one, x_eval, prep.data[2][:x_eval.shape[0]], repeats=5, warmup=1)
  n_models = len(prep.parts) * cfg.num_seeds
  wd.write_json("timing.json", {
      "compile_s": fit.compile_s, "train_run_s": fit.run_s,
      "checkpoint_save_ms_median": median_save_ms(ckpt),
      "checkpoints_saved": len(ckpt.save_seconds),
      "ms_per_seed_fold": 1e3 * fit.run_s / n_models,
      "total_s": time.perf_counter() - t_start,
      f"inference_ms_batch_{x_eval.shape[0]}": lat, "devices": str(jax.devices()),
      "num_devices": cfg.num_devices})
  acc = results["summary"]["accuracy"]
  wd.log(f"test accuracy {acc['mean']:.4f} (95% CI {acc['ci95'][0]:.4f}-{acc['ci95'][1]:.4f},"
         f" n={acc['n']}), F1 {results['summary']['f1']['mean']:.4f}  "
         f"[{prep.kind} data: {prep.raw.info.name}]")
  wd.finish(f"wrote {wd.path}: results.json results.csv history.npz timing.json "
         f"(train {fit.run_s:.1f}s + compile {fit.compile_s:.1f}s)")
  return results
