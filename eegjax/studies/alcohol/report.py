"""The alcoholism study's comparison of approaches: one `Outcome` per approach and the
comparison table (comparison.csv, comparison.md)."""

from __future__ import annotations

import dataclasses

import numpy as np

from eegjax.evaluate.summary import CI_NOTE, summarize_metric

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
