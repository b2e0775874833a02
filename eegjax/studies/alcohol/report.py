"""The alcoholism study's comparison of approaches: one `Outcome` per approach, the
comparison table (comparison.csv, comparison.md), and results.json's sections and the
log's headline lines."""

from __future__ import annotations

import dataclasses

import numpy as np

from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import CI_NOTE, summarize, summarize_metric
from eegjax.studies.common import classifier

COMPARED = ("accuracy", "precision", "recall", "f1")


@dataclasses.dataclass
class Outcome:
  """One approach's models, evaluated on their test parts."""
  approach: str
  description: str
  test: dict                      # metric -> (folds, seeds) array
  num_params: int                 # of the classifier that sees the stored inputs
  input_floats: int               # stored inputs per trial
  train_s: float                  # the sweep's training run (every model), compile apart
  compile_s: float
  extra_s: float = 0.0            # autoencoder training (codes) or pruning (pruned)
  extra_what: str = ""
  inference_ms: float = 0.0       # one model, a batch of `inference_batch` trials
  inference_batch: int = 0
  details: dict = dataclasses.field(default_factory=dict)


def comparison_rows(outcomes: list[Outcome], num_examples: int):
  """(header, rows) of comparison.csv: one row per approach."""
  header = ["approach"]
  for m in COMPARED:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  header += ["models", "train_s", "train_ms_per_model", "extra_s", "extra", "params",
             "input_floats_per_trial", "inputs_kib", "inference_ms", "inference_batch",
             "description"]
  rows = []
  for o in outcomes:
    line = [o.approach]
    for m in COMPARED:
      s = summarize_metric(m, o.test[m])
      line += [s["mean"], s["ci95"][0], s["ci95"][1]]
    n = int(np.asarray(o.test["accuracy"]).size)
    line += [n, o.train_s, 1e3 * o.train_s / n, o.extra_s, o.extra_what, o.num_params,
             o.input_floats, o.input_floats * 4 * num_examples / 1024, o.inference_ms,
             o.inference_batch, o.description]
    rows.append(line)
  return header, rows


def comparison_markdown(outcomes: list[Outcome], num_examples: int, title: str) -> str:
  lines = [f"# Alcoholism study: comparison of approaches — {title}", "",
           f"Test part of every (fold, seed) model: mean [95% CI]. {CI_NOTE}. Training time "
           "is the whole vmapped sweep; inference is one model on a batch of trials; input "
           f"memory is float32 over the {num_examples} trials.", "",
           "| approach | accuracy | precision | recall | F1 | models | training s | extra s "
           "| parameters | inputs / trial | inputs KiB | inference ms |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for o in outcomes:
    cells = [o.approach]
    for m in COMPARED:
      s = summarize_metric(m, o.test[m])
      cells.append(f"{s['mean']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]")
    n = int(np.asarray(o.test["accuracy"]).size)
    cells += [str(n), f"{o.train_s:.2f}",
              f"{o.extra_s:.2f} ({o.extra_what})" if o.extra_what else "-",
              str(o.num_params), str(o.input_floats),
              f"{o.input_floats * 4 * num_examples / 1024:.1f}",
              f"{o.inference_ms:.3f} (batch {o.inference_batch})"]
    lines.append("| " + " | ".join(cells) + " |")
  lines += ["", *(f"- **{o.approach}**: {o.description}" for o in outcomes), ""]
  return "\n".join(lines)


# --- results.json and the log -------------------------------------------------------

def codes_history(ae_fit, codes_fit) -> dict:
  """history.npz's arrays of the codes approach."""
  history = {"autoencoder_train_mse": ae_fit.train_loss}
  if ae_fit.val_loss is not None:
    history["autoencoder_val_mse"] = ae_fit.val_loss
  history["codes_train_loss"] = codes_fit.train_loss
  return history


def autoencoder_section(cfg, codes: Outcome, ae_fit) -> dict:
  """results.json's "autoencoder"."""
  return {
      "per_band": cfg.per_band, "code_size": cfg.code_size,
      "code_floats_per_trial": codes.input_floats,
      "encoder_params": codes.details["encoder_params"],
      "test_reconstruction_mse": summarize(codes.details["test_reconstruction_mse"]),
      "best_epoch": (np.asarray(ae_fit.state.best_epoch) + 1).ravel().tolist(),
      "train_mse_per_epoch_mean": np.nanmean(ae_fit.train_loss, axis=(0, 1)),
      "val_mse_per_epoch_mean": (None if ae_fit.val_loss is None else
                                 np.nanmean(ae_fit.val_loss, axis=(0, 1))),
      "note": "MSE of the min-max scaled 192 features (each fold's training statistics)"}


def pruning_section(cfg, pruned: Outcome, per_layer: dict) -> dict:
  """results.json's "pruning": the settings and each pruned layer's steps."""
  return {
      "layers": cfg.layers_to_prune, "step": cfg.prune.step, "rule": cfg.prune.rule,
      "compensation": cfg.compensation,
      "similar_deg": cfg.prune.similar_deg, "complementary_deg": cfg.prune.complementary_deg,
      "final_hidden_sizes": pruned.details["hidden_sizes"],
      "per_layer": {str(layer): {
          "stop": o["stop"], "actions": o["actions"],
          "steps": [{k: v for k, v in r.items()
                     if not k.endswith("_ms") and k != "predicted"}
                    for r in o["rows"]]} for layer, o in per_layer.items()}}


def comparison_results(cfg, prep, outcomes: list, extra: dict,
                       study: str) -> dict:
  """results.json: the data, the protocol and every approach's metrics per model."""
  return {
      "study": study,
      "dataset": {**prep.raw.summary(), "data": prep.kind, "inputs": prep.inputs,
                  "note": ("synthetic data: figures test the method, they are not findings "
                           "about EEG") if prep.kind == "synthetic" else ""},
      "protocol": {"split": prep.split_kind, "test_part": classifier.test_part(prep),
                   "num_folds": len(prep.parts),
                   "seeds": prep.seeds, "val_fraction": cfg.classify.val_fraction,
                   "normalisation": "min-max fitted on each fold's training rows"},
      "approaches": {o.approach: {
          "description": o.description, "num_params": o.num_params,
          "input_floats_per_trial": o.input_floats,
          "summary": {k: summarize_metric(k, o.test[k]) for k in SCALARS},
          "runs": [{"fold": f, "seed": s, **{k: o.test[k][f, i] for k in SCALARS}}
                   for f in range(len(prep.parts)) for i, s in enumerate(prep.seeds)]}
          for o in outcomes},
      **extra,
      "ci_note": CI_NOTE, "software": classifier.software_versions(),
  }


def outcome_line(o: Outcome, title: str) -> str:
  """An approach's headline figures, for the log."""
  s = summarize_metric("accuracy", o.test["accuracy"])
  return (f"{o.approach:>7}: accuracy {s['mean']:.4f} [{s['ci95'][0]:.4f}, "
          f"{s['ci95'][1]:.4f}]  F1 {summarize(o.test['f1'])['mean']:.4f}  params "
          f"{o.num_params}  inputs/trial {o.input_floats}  [{title}]")
