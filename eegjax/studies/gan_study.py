"""The alcoholism study's generative part: GANs on 32x32x3 EEG images whose discriminator
also classifies alcoholic vs control (AC-GAN), with three generators compared on the same
split and seeds, and distinctiveness pruning of the discriminator's conv channels.

  load SMNI -> 192 log band powers -> folds (train / validation / test) -> EEG images
  (eegjax.data.scalp_images, from each fold's min-max scaled band powers, in [-1, 1],
  -1 outside the head) -> for each generator variant (deconv, unet_resize,
  unet_transpose): train every (fold, seed) GAN (eegjax.train.gan_fit), logging D_cls,
  D_adv, D_total, G and the four confidences on train, validation and test every epoch;
  keep each model's best epoch on validation (orbax: checkpoints/<variant>/best) ->
  the best discriminator's class head on the real test images -> image grids -> conv
  channel pruning of the best discriminators -> gan_comparison.csv / .md / .png,
  gan_prune_table.csv, epoch_log_<variant>.csv, results.json, timing.json.

A rerun of the same command resumes every variant from its last checkpoint
(checkpoints/<variant>/last, saved every --checkpoint_every epochs). The dense classifier
of the alcoholism study (eegjax.studies.alcohol.run_direct) trains on the same split and
seeds for the comparison.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import jax
import numpy as np

from eegjax.data.scalp_images import fit_grid
from eegjax.errors import ConfigError
from eegjax.evaluate import plots
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import CI_NOTE, summarize
from eegjax.evaluate.timing import latency_ms
from eegjax.models import count_params
from eegjax.models.gan import DeconvGenerator, Discriminator
from eegjax.models.unet import UNetGenerator
from eegjax.pruning.progressive import PruneConfig
from eegjax.studies import alcohol, classification, gan_pruning
from eegjax.studies.classification import ClassifyConfig, Prepared, WrapsClassify
from eegjax.studies.workdir import Workdir, to_json
from eegjax.train import sharding
from eegjax.train.checkpoint import Checkpoints
from eegjax.train.gan_fit import LAYOUTS, METRICS, PARTS, GanConfig, GanTrainer

VARIANTS = ("deconv", "unet_resize", "unet_transpose")
COMPARED = ("accuracy", "precision", "recall", "f1")
CURVES = ("D_cls", "D_adv", "D_total", "G", "D_cls_real", "D_cls_fake", "D_adv_real",
          "D_adv_fake")


@dataclasses.dataclass(frozen=True)
class GanStudyConfig(WrapsClassify):
  classify: ClassifyConfig               # data, split, seeds (and the dense classifier)
  gan: GanConfig
  variants: tuple[str, ...] = VARIANTS
  noise_dim: int = 64
  g_features: tuple[int, ...] = (64, 32, 16)          # deconv generator
  unet_features: tuple[int, ...] = (16, 32, 64, 64)   # U-Net generator
  d_features: tuple[int, ...] = (32, 64, 128)         # discriminator convs
  layout: str = "auto"                   # vmap | loop | auto (see GanTrainer)
  checkpoint_every: int = 5
  image_epochs: tuple[int, ...] = ()     # () = the first and the last epoch
  images_per_class: int = 6
  prune_conv_layers: tuple[int, ...] = ()    # () = none
  conv_criteria: tuple[str, ...] = ("distinctiveness",)   # and the baselines, compared
  prune_step: int = 2
  max_pruned: int = 0                    # channels per layer at most (0 = no limit)
  beyond_thresholds: bool = False        # go on with the least distinct pairs
  similar_deg: float = 15.0
  complementary_deg: float = 165.0
  compare_dense: bool = True

  def __post_init__(self):
    if not self.variants:
      raise ConfigError("no generator variant chosen; expected some of " + ",".join(VARIANTS))
    for v in self.variants:
      if v not in VARIANTS:
        raise ConfigError(f"generator variant {v!r}: expected one of {list(VARIANTS)}")
    for name in ("g_features", "unet_features", "d_features"):
      if not getattr(self, name) or min(getattr(self, name)) < 1:
        raise ConfigError(f"--{name}={list(getattr(self, name))}: expected positive widths")
    if len(self.unet_features) < 2:
      raise ConfigError("--unet_features: expected at least two widths (one downsampling)")
    if self.noise_dim < 1 or self.checkpoint_every < 1 or self.images_per_class < 1:
      raise ConfigError("--noise_dim, --checkpoint_every and --images_per_class must be "
                        "positive")
    if self.layout not in (*LAYOUTS, "auto"):
      raise ConfigError(f"--gan_layout={self.layout!r}: expected vmap, loop or auto")
    for e in self.image_epochs:
      if not 1 <= e <= self.gan.epochs:
        raise ConfigError(f"--image_epochs: {e} is not an epoch of 1..{self.gan.epochs}")
    for layer in self.prune_conv_layers:
      if not 0 <= layer < len(self.d_features):
        raise ConfigError(f"--prune_conv_layers: layer {layer} does not exist; the "
                          f"discriminator has conv layers 0..{len(self.d_features) - 1}")
    if self.max_pruned < 0:
      raise ConfigError(f"--max_pruned={self.max_pruned}: expected >= 0 (0 = no limit)")
    if not self.conv_criteria:
      raise ConfigError("--conv_criteria is empty; expected some of distinctiveness, "
                        "magnitude, random")
    for crit in self.conv_criteria:
      if PruneConfig(crit, "paper", self.prune_step, self.similar_deg,
                     self.complementary_deg).masked:
        raise ConfigError(f"--conv_criteria: {crit} is the RNN study's masked variant; "
                          "expected distinctiveness, magnitude or random")
    if self.classify.inputs != "band_power":
      raise ConfigError(f"--inputs={self.classify.inputs}: the EEG images are drawn from "
                        "band powers; expected --inputs=band_power")

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "classify": self.classify.to_json()}


def make_generator(cfg: GanStudyConfig, variant: str, num_classes: int):
  if variant == "deconv":
    return DeconvGenerator(num_classes, cfg.noise_dim, tuple(cfg.g_features))
  return UNetGenerator(num_classes, tuple(cfg.unet_features),
                       upsample=variant.split("_", 1)[1])


def image_maker(prep: Prepared, log):
  """rows of min-max scaled band powers (B, C * 3), electrode-major -> (B, 32, 32, 3)
  images in [-1, 1] (outside the head -1), and the grid used."""
  names = list(prep.raw.info.channel_names)
  if not names or prep.ds.x.shape[1] != 3 * len(names):
    raise ConfigError("EEG images need named electrodes x 3 band powers (SMNI data with "
                      "--inputs=band_power)")
  grid = fit_grid(names, log=log)

  def to_images(rows):
    return grid.signed_images(rows.reshape(rows.shape[0], -1, 3))
  return to_images, grid


# --- training one variant ------------------------------------------------------------

def train_variant(cfg: GanStudyConfig, prep: Prepared, wd: Workdir, variant: str,
                  trainer: GanTrainer):
  """Trains (or resumes) every model of one variant; returns (state, history, run_s)."""
  seeds, folds, data = prep.seeds, prep.folds, (prep.data[0], prep.data[1])
  n_f, n_s, epochs = len(prep.parts), len(seeds), cfg.gan.epochs
  state = trainer.init(seeds, folds, data)
  history = {f"{p}/{m}": np.full((n_f, n_s, epochs), np.nan, np.float32)
             for p in PARTS for m in METRICS}
  last = Checkpoints(wd.file(os.path.join("checkpoints", variant, "last")), keep=2,
                     log=wd.log)
  best = Checkpoints(wd.file(os.path.join("checkpoints", variant, "best")), keep=1,
                     log=wd.log)
  start, run_s = 0, 0.0
  restored = last.restore_latest({"state": state, **history})
  if restored is not None:
    start, arrays, meta = restored
    state, run_s = arrays["state"], float(meta["run_s"])
    history = {k: np.asarray(arrays[k]) for k in history}
    wd.log(f"{variant}: resuming from the checkpoint after epoch {start} of {epochs}")
  image_epochs = set(cfg.image_epochs or (1, epochs))
  for epoch in range(start, epochs):
    t0 = time.perf_counter()
    state, metrics, improved = trainer.epoch(state, epoch, seeds, folds, data)
    metrics = jax.tree.map(np.asarray, metrics)
    run_s += time.perf_counter() - t0
    for p in PARTS:
      for m in METRICS:
        history[f"{p}/{m}"][..., epoch] = metrics[p][m]
    bad = [p for p in PARTS if not np.isfinite(metrics[p]["D_total"]).all()]
    if bad:
      raise ConfigError(f"{variant}: non-finite GAN losses at epoch {epoch + 1} ({bad}); "
                        "lower the learning rates")
    for p in PARTS:
      mean = {m: float(np.mean(metrics[p][m])) for m in CURVES}
      wd.log(f"{variant} epoch {epoch + 1}/{epochs} {p:>5}: " + "  ".join(
          f"{m} {v:.4f}" for m, v in mean.items()))
    improved = np.asarray(improved)
    if improved.any():
      if epoch + 1 in best.steps():   # written before an interruption; the same again
        best.manager.delete(epoch + 1)
      best.save(epoch + 1, {"g": state.best_g, "d": state.best_d,
                            "best_epoch": state.best_epoch},
                {"variant": variant, "epoch": epoch + 1, "leading_axes": ["fold", "seed"]})
      wd.log(f"{variant}: new best model saved at epoch {epoch + 1} ({int(improved.sum())} "
             f"of {improved.size} models improved their validation class loss)")
    if epoch + 1 in image_epochs:
      plot_grid(cfg, prep, wd, trainer, state.g, variant, epoch + 1)
    if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == epochs:
      last.save(epoch + 1, {"state": state, **history},
                {"epochs_done": epoch + 1, "run_s": run_s})
  last.close()
  best.close()
  return state, history, run_s


def plot_grid(cfg, prep, wd, trainer, g_params, variant, epoch):
  """Generated images of fold 0, seed 0, `images_per_class` per class, as PNG."""
  k = cfg.images_per_class
  labels = np.repeat(np.arange(prep.ds.num_classes), k)
  one = jax.tree.map(lambda a: a[0, 0], g_params)
  imgs = np.asarray(trainer.generate(one, labels, jax.random.key(epoch)))
  os.makedirs(wd.file("images"), exist_ok=True)
  plots.image_grid(imgs.reshape((prep.ds.num_classes, k) + imgs.shape[1:]),
                   list(prep.ds.class_names),
                   wd.file(os.path.join("images", f"{variant}_epoch_{epoch:03d}.png")),
                   f"{variant}, epoch {epoch}, fold 0 seed 0 — {prep.raw.info.name} "
                   f"({prep.kind})")


# --- the study ----------------------------------------------------------------------

def _at_best(history, best_epoch, key):
  """Each model's value of history[key] at its best epoch, (F, S)."""
  h = history[key]
  e = np.clip(np.asarray(best_epoch), 0, h.shape[-1] - 1)
  return np.take_along_axis(h, e[..., None], -1)[..., 0]


def comparison_rows(outcomes: dict, dense: Optional[dict]):
  header = ["model"]
  for m in COMPARED:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  header += ["best_epoch_mean", "test_G_at_best", "test_D_adv_real_at_best",
             "test_D_adv_fake_at_best", "test_D_cls_fake_at_best", "generator_params",
             "discriminator_params", "train_s", "models"]
  rows = []
  for v, o in outcomes.items():
    line = [f"{v} (D class head)"]
    for m in COMPARED:
      s = summarize(o["test"][m])
      line += [s["mean"], s["ci95"][0], s["ci95"][1]]
    line += [float(np.mean(o["best_epoch"])), *(float(np.mean(o["at_best"][k])) for k in (
        "G", "D_adv_real", "D_adv_fake", "D_cls_fake")), o["g_params"], o["d_params"],
        o["train_s"], int(np.asarray(o["test"]["accuracy"]).size)]
    rows.append(line)
  if dense is not None:
    line = ["dense classifier (192 band powers)"]
    for m in COMPARED:
      s = summarize(dense["test"][m])
      line += [s["mean"], s["ci95"][0], s["ci95"][1]]
    line += ["", "", "", "", "", "", dense["params"], dense["train_s"],
             int(np.asarray(dense["test"]["accuracy"]).size)]
    rows.append(line)
  return header, rows


def run(cfg: GanStudyConfig, flagfile_text: Optional[str] = None) -> dict:
  t_start = time.perf_counter()
  wd = classification.start(cfg, flagfile_text)
  if wd.finished:
    return wd.read_json("results.json")
  prep = classification.prepare(cfg.classify, wd)
  to_images, grid = image_maker(prep, wd.log)
  wd.log(f"EEG images 32x32x3 from {len(grid.channels)} electrodes; GAN variants "
         f"{list(cfg.variants)}, {cfg.gan.epochs} epochs, batch {cfg.gan.batch_size}, "
         f"lr G {cfg.gan.g_learning_rate} D {cfg.gan.d_learning_rate}, "
         f"{'K+1 semi-supervised' if cfg.gan.semi_supervised else 'two-head AC-GAN'} "
         "discriminator")
  data = (prep.data[0], prep.data[1])
  outcomes, histories, prune_rows, timing = {}, {}, [], {}
  for variant in cfg.variants:
    gen = make_generator(cfg, variant, prep.ds.num_classes)
    disc = Discriminator(prep.ds.num_classes, tuple(cfg.d_features), cfg.gan.semi_supervised)
    trainer = GanTrainer(gen, disc, cfg.gan, to_images, cfg.layout,
                         num_devices=cfg.classify.num_devices)
    where = (sharding.plan(len(prep.parts), len(prep.seeds), cfg.classify.num_devices)
             .describe() if trainer.layout == "vmap" else
             "one device, model by model (--gan_layout=vmap spreads the models over "
             "--num_devices)")
    wd.log(f"{variant}: training ({trainer.layout} layout, {where})")
    state, history, run_s = train_variant(cfg, prep, wd, variant, trainer)
    test = trainer.classify(state.best_d, prep.folds, data, "test")
    best_epoch = np.asarray(state.best_epoch)
    one_g = jax.tree.map(lambda a: a[0, 0], state.best_g)
    outcomes[variant] = {
        "test": {k: test[k] for k in SCALARS}, "best_epoch": best_epoch + 1,
        "at_best": {k: _at_best(history, best_epoch, f"test/{k}") for k in CURVES},
        "g_params": count_params(one_g),
        "d_params": count_params(jax.tree.map(lambda a: a[0, 0], state.best_d)),
        "train_s": run_s}
    histories.update({f"{variant}/{k}": v for k, v in history.items()})
    write_epoch_log(wd, variant, history)
    labels = np.zeros(64, np.int32)
    timing[variant] = {"train_s": run_s, "generate_ms_64": latency_ms(
        lambda: trainer.generate(one_g, labels, jax.random.key(0)), repeats=10)}
    if cfg.prune_conv_layers:
      t0 = time.perf_counter()
      prune_rows += gan_pruning.prune_discriminator(cfg, prep, wd, variant, trainer, state.best_d)
      timing[variant]["prune_s"] = time.perf_counter() - t0
    acc = summarize(test["accuracy"])
    wd.log(f"{variant}: D class head on the test images: accuracy {acc['mean']:.4f} "
           f"[{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}]")

  dense = None
  if cfg.compare_dense:
    direct, _ = alcohol.run_direct(alcohol.AlcoholConfig(classify=cfg.classify,
                                                         approaches=("direct",)), prep, wd)
    dense = {"test": direct.test, "params": direct.num_params, "train_s": direct.train_s}

  title = f"{prep.raw.info.name} ({prep.kind})"
  header, rows = comparison_rows(outcomes, dense)
  wd.write_csv("gan_comparison.csv", header, rows)
  wd.write_text("gan_comparison.md", comparison_markdown(header, rows, title))
  plots.gan_comparison(outcomes, dense, wd.file("gan_comparison.png"), title)
  plots.gan_curves({v: {k.split("/", 1)[1]: h for k, h in histories.items()
                        if k.startswith(v + "/")} for v in outcomes},
                   wd.file("gan_curves.png"), title)
  if prune_rows:
    gan_pruning.write_prune_table(wd, prune_rows)
  wd.write_npz("history.npz", **{k.replace("/", "__"): v for k, v in histories.items()})
  results = {
      "study": "train_gan",
      "dataset": {**prep.raw.summary(), "data": prep.kind, "inputs": prep.inputs,
                  "images": f"32x32x3 from {len(grid.channels)} electrodes (left out: "
                            f"{list(grid.left_out)})",
                  "note": ("synthetic data: figures test the method, they are not findings "
                           "about EEG") if prep.kind == "synthetic" else ""},
      "protocol": {"split": prep.split_kind, "num_folds": len(prep.parts), "seeds": prep.seeds,
                   "val_fraction": cfg.classify.val_fraction,
                   "best_model": "lowest validation class loss on real images, per model"},
      "variants": {v: {"summary": {k: summarize(o["test"][k]) for k in SCALARS},
                       "best_epoch": o["best_epoch"], "generator_params": o["g_params"],
                       "discriminator_params": o["d_params"],
                       "at_best_epoch_test": {k: summarize(v2) for k, v2 in
                                              o["at_best"].items()}}
                   for v, o in outcomes.items()},
      "dense_classifier": None if dense is None else {
          "summary": {k: summarize(dense["test"][k]) for k in SCALARS},
          "params": dense["params"]},
      "conv_pruning": [{k: v for k, v in r.items()} for r in prune_rows],
      "ci_note": CI_NOTE,
  }
  wd.write_json("results.json", results)
  timing["total_s"] = time.perf_counter() - t_start
  wd.write_json("timing.json", timing)
  wd.log(f"wrote {wd.path}: gan_comparison.csv/.md/.png gan_curves.png epoch_log_*.csv "
         f"images/ {'gan_prune_table.csv ' if prune_rows else ''}results.json timing.json "
         f"(total {timing['total_s']:.1f}s)")
  return to_json(results)


def write_epoch_log(wd: Workdir, variant: str, history: dict) -> None:
  """Per epoch and part: every loss and confidence, mean over the models."""
  epochs = next(iter(history.values())).shape[-1]
  header = ["epoch", "part", *METRICS]
  rows = [[e + 1, p, *(float(np.nanmean(history[f"{p}/{m}"][..., e])) for m in METRICS)]
          for e in range(epochs) for p in PARTS]
  wd.write_csv(f"epoch_log_{variant}.csv", header, rows)


def comparison_markdown(header, rows, title: str) -> str:
  lines = [f"# GAN variants compared — {title}", "",
           "Discriminator class head on the real test images (best epoch on validation), "
           f"mean [95% CI] over the models. {CI_NOTE}.", "",
           "| model | accuracy | precision | recall | F1 | best epoch | test G | D_adv_real | "
           "D_adv_fake | D_cls_fake | G params | D params | training s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
  for r in rows:
    cells = [r[0]]
    for i in range(4):
      cells.append(f"{r[1 + 3 * i]:.3f} [{r[2 + 3 * i]:.3f}, {r[3 + 3 * i]:.3f}]")
    rest = r[13:]
    cells += [fmt(v) for v in rest[:5]] + [str(rest[5]), str(rest[6]), f"{rest[7]:.1f}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"
