"""The GAN study's tables and pictures: the variants' comparison (the discriminators'
class heads and the samples' quality), the epoch logs, and real-beside-fake image grids."""

from __future__ import annotations

import os
from typing import Optional

import jax
import numpy as np

from eegjax.evaluate import prune_tables, stats
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import CI_NOTE, summarize, summarize_metric
from eegjax.studies.common import classifier
from eegjax.studies.gan import figures, pruning as gan_pruning, quality as gan_quality
from eegjax.train.gan_fit import METRICS, PARTS

COMPARED = ("accuracy", "precision", "recall", "f1")
# the samples' quality in the comparison: (column, figure of gan_quality.Judge.measure)
QUALITY_COLUMNS = (("tstr", "tstr_accuracy/test"), ("trtr", "trtr_accuracy/test"),
                   ("two_sample", "two_sample_accuracy"),
                   ("linear_two_sample", "linear_two_sample_accuracy"),
                   ("spread_ratio", "spread_ratio"),
                   ("memorisation_ratio", "memorisation_ratio"),
                   ("outside_at_minus1", "outside_at_minus1"))


def at_best(history, best_epoch, key):
  """Each model's value of history[key] at its best epoch, (F, S)."""
  h = history[key]
  e = np.clip(np.asarray(best_epoch), 0, h.shape[-1] - 1)
  return np.take_along_axis(h, e[..., None], -1)[..., 0]


def _interval(values, bounded: bool = True) -> list:
  v = np.asarray(values, np.float64).ravel()
  if not bounded:
    return [float(v.mean()), *summarize_metric("loss", v)["ci95"]]
  s = summarize_metric("accuracy", v)
  return [s["mean"], s["ci95"][0], s["ci95"][1]]


def comparison_rows(outcomes: dict, dense: Optional[dict]):
  """(header, rows) of gan_comparison.csv: per variant its discriminator's class head on
  the real test images and its samples' quality, then the dense classifier."""
  header = ["model"]
  for m in COMPARED:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  for col, _ in QUALITY_COLUMNS:
    header += [f"{col}_mean", f"{col}_ci_low", f"{col}_ci_high"]
  header += ["best_epoch_mean", "test_G_at_best", "test_D_adv_real_at_best",
             "test_D_adv_fake_at_best", "test_D_cls_fake_at_best", "generator_params",
             "discriminator_params", "train_s", "models"]
  rows = []
  for v, o in outcomes.items():
    line = [f"{v} (D class head)"]
    for m in COMPARED:
      line += _interval(o["test"][m])
    for col, key in QUALITY_COLUMNS:
      line += _interval(o["quality"][key], not col.endswith("_ratio"))
    line += [float(np.mean(o["best_epoch"])), *(float(np.mean(o["at_best"][k])) for k in (
        "G", "D_adv_real", "D_adv_fake", "D_cls_fake")), o["g_params"], o["d_params"],
        o["train_s"], int(np.asarray(o["test"]["accuracy"]).size)]
    rows.append(line)
  if dense is not None:
    line = ["dense classifier (192 band powers)"]
    for m in COMPARED:
      line += _interval(dense["test"][m])
    line += [""] * (3 * len(QUALITY_COLUMNS) + 6)
    line += [dense["params"], dense["train_s"], int(np.asarray(dense["test"]["accuracy"]).size)]
    rows.append(line)
  return header, rows


def comparison_markdown(header, rows, title: str) -> str:
  col = {h: i for i, h in enumerate(header)}
  ci = lambda r, m: (f"{r[col[m + '_mean']]:.3f} [{r[col[m + '_ci_low']]:.3f}, "  # noqa
                     f"{r[col[m + '_ci_high']]:.3f}]" if r[col[m + "_mean"]] != "" else "")
  fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
  lines = [f"# GAN variants compared — {title}", "",
           "Discriminator class head on the real test images (best epoch), and the best "
           "generators' samples: TSTR (the dense classifier trained on generated images, "
           "tested on the real test images) beside TRTR (trained on the real training "
           "images), the two-sample accuracy (telling real from generated; 0.5 = "
           "indistinguishable; an MLP and a ridge classifier, balanced accuracy on 4x fresh "
           "fakes), the spread ratio (mean pairwise distance within a class, generated / "
           "real), the memorisation ratio (nearest-training distance, generated / real "
           "test; near 0: copies) and the fraction of pixels outside the head at -1; mean "
           f"[95% CI] over the models. {CI_NOTE}.", "",
           "| model | accuracy | F1 | TSTR | TRTR | two-sample | linear two-sample | spread "
           "ratio | memorisation ratio | outside at -1 | best epoch | D_cls_fake | G params | "
           "D params | training s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    cells = [r[0], ci(r, "accuracy"), ci(r, "f1"), ci(r, "tstr"), ci(r, "trtr"),
             ci(r, "two_sample"), ci(r, "linear_two_sample"),
             fmt(r[col["spread_ratio_mean"]]), fmt(r[col["memorisation_ratio_mean"]]),
             fmt(r[col["outside_at_minus1_mean"]]),
             fmt(r[col["best_epoch_mean"]]), fmt(r[col["test_D_cls_fake_at_best"]]),
             str(r[col["generator_params"]]), str(r[col["discriminator_params"]]),
             f"{r[col['train_s']]:.1f}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def epoch_log(history: dict, has_val: bool, quality_by_epoch: dict) -> tuple[list, list]:
  """epoch_log_<variant>.csv's (header, rows): per epoch and part that exists, every loss
  and confidence, mean over the models; at the epochs whose quality was measured (test
  rows), the samples' quality too."""
  epochs = next(iter(history.values())).shape[-1]
  parts = [p for p in PARTS if p != "val" or has_val]
  quality_keys = [k for _, k in QUALITY_COLUMNS]
  header = ["epoch", "part", *METRICS, *(c for c, _ in QUALITY_COLUMNS)]
  rows = []
  for e in range(epochs):
    q = quality_by_epoch.get(e + 1)
    for p in parts:
      rows.append([e + 1, p, *(float(np.nanmean(history[f"{p}/{m}"][..., e]))
                               for m in METRICS),
                   *((float(np.mean(q[k])) for k in quality_keys) if q is not None and
                     p == "test" else [""] * len(quality_keys))])
  return header, rows


def image_grids(wd, real, y, generate, g_params, inside, class_names, k: int, variant: str,
                epoch: int, title: str) -> None:
  """Fold 0, seed 0: `k` real training images per class beside `k` generated ones
  (images/<variant>_epoch_N.png), and the class means, real, generated and their
  difference (images/<variant>_means_epoch_N.png), over all the training part's images
  (`real`, labels `y`) and as many generated ones; one colour scale, the head outline
  drawn."""
  one = jax.tree.map(lambda a: a[0, 0], g_params)
  fake = np.asarray(generate(one, y, jax.random.key(epoch)))
  classes = range(len(class_names))
  pick = [np.flatnonzero(y == c)[:k] for c in classes]
  os.makedirs(wd.file("images"), exist_ok=True)
  figures.real_beside_fake([real[i] for i in pick], [fake[i] for i in pick], class_names,
                         inside, wd.file(os.path.join("images",
                                                      f"{variant}_epoch_{epoch:03d}.png")),
                         f"{variant}, epoch {epoch}, fold 0 seed 0 — {title}")
  figures.class_means([real[y == c].mean(0) for c in classes],
                    [fake[y == c].mean(0) for c in classes], class_names, inside,
                    wd.file(os.path.join("images", f"{variant}_means_epoch_{epoch:03d}.png")),
                    f"{variant}, epoch {epoch}: class means, fold 0 seed 0 — {title}")


def gan_results(cfg, prep, grid, has_val: bool, outcomes: dict,
                dense: Optional[dict], prune_rows: list) -> dict:
  """results.json: the data, the protocol, each variant's class head and samples, the
  dense classifier and the discriminators' pruning."""
  return {
      "study": "train_gan",
      "dataset": {**prep.raw.summary(), "data": prep.kind, "inputs": prep.inputs,
                  "images": f"32x32x3 from {len(grid.channels)} electrodes (left out: "
                            f"{list(grid.left_out)})",
                  "note": ("synthetic data: figures test the method, they are not findings "
                           "about EEG") if prep.kind == "synthetic" else ""},
      "protocol": {"split": prep.split_kind, "test_part": classifier.test_part(prep),
                   "num_folds": len(prep.parts), "seeds": prep.seeds,
                   "val_fraction": cfg.classify.val_fraction,
                   "best_model": ("highest TSTR accuracy on the validation part among the "
                                  "quality epochs, per model" if cfg.select_by == "tstr"
                                  else "lowest validation class loss on real images, per "
                                  "model" if has_val else
                                  "the last epoch (no validation part)"),
                   "quality": gan_quality.METHOD},
      "variants": {v: {"summary": {k: summarize_metric(k, o["test"][k]) for k in SCALARS},
                       "best_epoch": o["best_epoch"], "generator_params": o["g_params"],
                       "discriminator_params": o["d_params"],
                       "at_best_epoch_test": {k: summarize(v2) for k, v2 in
                                              o["at_best"].items()},
                       # the best generators' samples (gan_quality): per model and summary
                       "quality": {"summary": gan_quality.summary(o["quality"]),
                                   "per_model": o["quality"],
                                   "by_epoch": {e: gan_quality.summary(q) for e, q in
                                                sorted(o["by_epoch"].items())}}}
                   for v, o in outcomes.items()},
      "dense_classifier": None if dense is None else {
          "summary": {k: summarize_metric(k, dense["test"][k]) for k in SCALARS},
          "params": dense["params"]},
      "conv_pruning": [{k: v for k, v in r.items()} for r in prune_rows],
      # minus_distinctiveness in conv_pruning: each criterion minus distinctiveness on the
      # same discriminators at the same size
      "conv_pruning_paired": {"method": prune_tables.method_of(gan_pruning.protocol(prep),
                                                         predictions=False),
                              "compensation": cfg.conv_compensation,
                              "multiple_comparisons": stats.HOLM,
                              "test_train_ratio": gan_pruning.test_train_ratio(prep)},
      "ci_note": CI_NOTE, "software": classifier.software_versions(),
  }
