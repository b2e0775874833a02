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
(checkpoints/<variant>/last, every --checkpoint_every epochs). The alcoholism study's dense
classifier (eegjax.studies.common.classifier.train) trains on the same split and seeds beside.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.data.scalp_images import fit_grid
from eegjax.errors import ConfigError
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import summarize_metric
from eegjax.evaluate.timing import latency_ms
from eegjax.models import count_params
from eegjax.models.gan import POOLS, DeconvGenerator, Discriminator
from eegjax.models.unet import UNetGenerator
from eegjax.pruning.progressive import PruneConfig
from eegjax.studies.common import classifier
from eegjax.studies.gan import figures, pruning as gan_pruning, quality as gan_quality
from eegjax.studies.gan import report as gan_report
from eegjax.studies.common.classifier import ClassifyConfig, Prepared, WrapsClassify
from eegjax.settings import setting
from eegjax.run.lifecycle import Results, run_study
from eegjax.run.workdir import Workdir
from eegjax.train import sharding
from eegjax.run.checkpoints import Checkpoints
from eegjax.train.folds import has_validation
from eegjax.train.gan_fit import CURVES, LAYOUTS, GanConfig, GanTrainer

VARIANTS = ("deconv", "unet_resize", "unet_transpose")
HEAD_MASKS = ("apply", "montage", "learn")
SELECT_BY = ("cls_loss", "tstr")


@dataclasses.dataclass(frozen=True)
class GanStudyConfig(WrapsClassify):
  classify: ClassifyConfig               # data, split, seeds (and the dense classifier)
  gan: GanConfig = GanConfig()
  prune: PruneConfig = PruneConfig()     # the conv channels' pruning (rule paper)
  generator: tuple[str, ...] = setting(("deconv", "unet"), "generators to train: deconv "
                                       "and/or unet (each --upsample form)")
  upsample: tuple[str, ...] = setting(("resize", "transpose"), "U-Net upsampling: resize "
                                      "(nearest + conv) and/or transpose (transposed conv)")
  noise_dim: int = setting(64, "deconv generator's noise size")
  unet_noise_dim: int = setting(64, "U-Net's noise vector (beside its noise image): scales "
                                "and shifts every decoder layer's channels (0: none)")
  g_features: tuple[int, ...] = setting((64, 32, 16), "deconv generator widths at 8, 16, "
                                        "32 px")
  unet_features: tuple[int, ...] = setting((16, 32, 64, 64), "U-Net widths at 32, 16, 8, "
                                           "4 px")
  d_features: tuple[int, ...] = setting((32, 64, 128), "discriminator conv widths")
  d_pool: str = setting("flatten", "before the discriminator's heads: flatten (the heads "
                        "see where on the scalp a pattern is) or mean (global average "
                        "pooling: blind to it)")
  d_hidden: int = setting(0, "a hidden layer of this width before the discriminator's "
                          "heads (0: none)")
  d_minibatch: bool = setting(False, "minibatch features in the discriminator: the "
                              "pixels' spread over the batch, fed to its real/fake output")
  g_norm: bool = setting(True, "batch-statistics normalisation in the generators (the "
                         "DCGAN recipe)")
  layout: str = setting("auto", "vmap (models side by side: GPU/TPU), loop (model by "
                        "model: fast on CPU) or auto", flag="gan_layout")
  checkpoint_every: int = setting(5, "epochs between resumable checkpoints")
  head_mask: str = setting("apply", "apply: the generators' images are set to -1 outside "
                           "the head, as the real ones are; montage: also projected onto "
                           "the images the electrode montage can draw (least squares); "
                           "learn: each generator has to learn it")
  image_epochs: tuple[int, ...] = setting((), "epochs whose image grids (real beside "
                                          "generated) are saved (default: the first and "
                                          "the last)")
  quality_epochs: tuple[int, ...] = setting((), "epochs at which the current generators' "
                                            "samples are measured (TSTR, two-sample, "
                                            "spread and memorisation; default: --image_epochs)")
  select_by: str = setting("cls_loss", "each model's best epoch: cls_loss (lowest "
                           "validation class loss on real images, every epoch) or tstr "
                           "(highest TSTR accuracy on the validation part, among the "
                           "quality epochs)")
  images_per_class: int = setting(6, "images per class in each grid")
  prune_conv_layers: tuple[int, ...] = setting((), "discriminator conv layers to prune by "
                                               "distinctiveness after training, in order "
                                               "(default none)")
  conv_criteria: tuple[str, ...] = setting(("distinctiveness",), "criteria for the conv "
                                           "channels, each from the best discriminators: "
                                           "distinctiveness, weight_angle, magnitude, random")
  conv_compensation: str = setting("merge", "what becomes of a pruned channel's "
                                   "contribution, the same for every --conv_criteria: merge "
                                   "(into its pair partner, or the nearest channel by angle; "
                                   "the paper's rule) or none (deleted)")
  compare_dense: bool = setting(True, "also train the study's dense classifier on the 192 "
                                "band powers (same split and seeds) for the comparison")

  @property
  def variants(self) -> tuple[str, ...]:
    """deconv and unet_<upsample> for each --upsample form, in --generator order."""
    out = []
    for g in self.generator:
      out += ["deconv"] if g == "deconv" else [f"unet_{u}" for u in self.upsample]
    return tuple(out)

  def __post_init__(self):
    for g in self.generator:
      if g not in ("deconv", "unet"):
        raise ConfigError(f"--generator: {g!r} is not one of deconv, unet")
    for u in self.upsample:
      if u not in ("resize", "transpose"):
        raise ConfigError(f"--upsample: {u!r} is not one of resize, transpose")
    if not self.variants:
      raise ConfigError("no generator variant chosen; expected some of deconv, unet")
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
    for name in ("image_epochs", "quality_epochs"):
      for e in getattr(self, name):
        if not 1 <= e <= self.gan.epochs:
          raise ConfigError(f"--{name}: {e} is not an epoch of 1..{self.gan.epochs} "
                            "(--gan_epochs)")
    for name in ("d_hidden", "unet_noise_dim"):
      if getattr(self, name) < 0:
        raise ConfigError(f"--{name}={getattr(self, name)}: expected a width >= 0 (0: none)")
    for name, allowed in (("d_pool", POOLS), ("select_by", SELECT_BY),
                          ("head_mask", HEAD_MASKS)):
      if getattr(self, name) not in allowed:
        raise ConfigError(f"--{name}={getattr(self, name)!r}: expected one of "
                          f"{', '.join(allowed)}")
    if self.select_by == "tstr" and self.classify.val_fraction <= 0 and \
        self.classify.split != "official":
      raise ConfigError("--select_by=tstr chooses on the validation part; expected "
                        "--val_fraction > 0")
    gan_pruning.check_config(self)
    if self.classify.inputs != "band_power":
      raise ConfigError(f"--inputs={self.classify.inputs}: the EEG images are drawn from "
                        "band powers; expected --inputs=band_power")

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "classify": self.classify.to_json()}


# The study's flags (cli.define_study): its own settings, the GAN training's, and the
# conv channels' pruning limits and thresholds
FLAGS = [(GanStudyConfig, None), (GanConfig, None),
         (PruneConfig, ("prune_step", "similar_deg", "complementary_deg", "max_pruned",
                        "beyond_thresholds"))]


def make_generator(cfg: GanStudyConfig, variant: str, num_classes: int):
  if variant == "deconv":
    return DeconvGenerator(num_classes, cfg.noise_dim, tuple(cfg.g_features),
                           norm=cfg.g_norm)
  return UNetGenerator(num_classes, tuple(cfg.unet_features),
                       upsample=variant.split("_", 1)[1], norm=cfg.g_norm,
                       noise_dim=cfg.unet_noise_dim)


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


def output_fn(head_mask: str, grid):
  """What --head_mask applies to every generated batch (None: nothing)."""
  if head_mask == "learn":
    return None
  if head_mask == "montage":
    projector = grid.projector()
    return lambda img: grid.onto_montage(img, projector)
  inside = jnp.asarray(grid.inside)[..., None]
  return lambda img: jnp.where(inside, img, -1.0)


# --- training one variant ------------------------------------------------------------

def train_variant(cfg: GanStudyConfig, prep: Prepared, wd: Workdir, variant: str,
                  trainer: GanTrainer, real, quality: gan_quality.EpochQuality):
  """Trains (or resumes) every model of one variant through the training driver; after
  each epoch saves the models that improved (checkpoints/<variant>/best), draws the image
  grids asked for (real: fold 0's training images, labels and the head's pixels) and
  measures the current generators' samples at the quality epochs. Returns (state,
  history, run_s)."""
  last = Checkpoints(wd.file(os.path.join("checkpoints", variant, "last")), keep=2,
                     log=wd.log)
  best = Checkpoints(wd.file(os.path.join("checkpoints", variant, "best")), keep=1,
                     log=wd.log)
  image_epochs = set(cfg.image_epochs or (1, cfg.gan.epochs))
  quality_epochs = set(cfg.quality_epochs or image_epochs)
  by_tstr = Checkpoints(wd.file(os.path.join("checkpoints", variant, "best_tstr")), keep=1,
                        log=wd.log) if cfg.select_by == "tstr" else None
  chosen: dict = {}     # select_by=tstr: the best models so far, their epochs and scores

  def after_epoch(state, epoch):
    improved = np.asarray(state.best_epoch) == epoch - 1
    if improved.any():
      if epoch in best.steps():   # written before an interruption; the same again
        best.manager.delete(epoch)
      best.save(epoch, {"g": state.best_g, "d": state.best_d,
                        "best_epoch": state.best_epoch},
                {"variant": variant, "epoch": epoch, "leading_axes": ["fold", "seed"]})
    if epoch in image_epochs:
      plot_grid(cfg, prep, wd, trainer, state.g_avg, variant, epoch, real)
    if epoch in quality_epochs and epoch not in quality.by_epoch:
      q = quality.measure(trainer.generate, state.g_avg, prep.folds, prep.seeds)
      wd.log(f"{variant}: epoch {epoch}  samples: {gan_quality.line(q)}")
      if by_tstr is not None:      # saved before the epoch is recorded as measured
        gan_quality.choose_by_tstr(by_tstr, chosen, state, q["tstr_accuracy/val"], epoch, variant)
      quality.record(epoch, q)

  run = trainer.fit(prep.seeds, prep.folds, (prep.data[0], prep.data[1]), log=wd.log,
                    checkpoints=last, checkpoint_every=cfg.checkpoint_every, label=variant,
                    after_block=after_epoch)
  best.close()
  state = run.state
  if by_tstr is not None:
    if not chosen:           # all measured before a resume: the kept choice
      step, chosen["models"], _ = by_tstr.restore_latest(
          {"g": state.g_avg, "d": state.d, "best_epoch": state.best_epoch, "score":
           np.zeros(np.shape(state.best_epoch))})
    by_tstr.close()
    m = chosen["models"]
    state = state._replace(best_g=m["g"], best_d=m["d"], best_epoch=m["best_epoch"])
  return state, run.history, run.run_s


def plot_grid(cfg, prep, wd, trainer, g_params, variant, epoch, real):
  """Real beside generated images and the class means (gan_report.image_grids)."""
  gan_report.image_grids(wd, real[0], real[1], trainer.generate, g_params, real[2],
                         list(prep.ds.class_names), cfg.images_per_class, variant, epoch,
                         f"{prep.raw.info.name} ({prep.kind})")


# --- the study ----------------------------------------------------------------------

def run(cfg: GanStudyConfig, flagfile_text: Optional[str] = None) -> dict:
  """Trains and compares the GAN variants, writing the workdir through the one runner;
  returns the results dict."""
  return run_study(cfg, flagfile_text, lambda wd: compare(cfg, wd))


def _variant_trainer(cfg: GanStudyConfig, variant: str, prep, grid, to_images,
                     has_val: bool) -> GanTrainer:
  """The GanTrainer of one generator variant and the study's discriminator."""
  gen = make_generator(cfg, variant, prep.ds.num_classes)
  disc = Discriminator(prep.ds.num_classes, tuple(cfg.d_features), cfg.gan.semi_supervised,
                       pool=cfg.d_pool, minibatch=cfg.d_minibatch, hidden=cfg.d_hidden)
  return GanTrainer(gen, disc, cfg.gan, to_images, cfg.layout,
                    num_devices=cfg.classify.num_devices, has_val=has_val,
                    output_fn=output_fn(cfg.head_mask, grid))


def _dense_baseline(cfg: GanStudyConfig, prep, wd: Workdir) -> dict:
  """The dense classifier on the band powers, trained for the comparison: its test
  metrics, parameters and training seconds."""
  wd.log(f"dense classifier {prep.ds.x.shape[1]}-"
         f"{'-'.join(map(str, cfg.classify.hidden_sizes))}-{prep.ds.num_classes} on the "
         "band powers, for the comparison")
  d_trainer, d_fit, _ = classifier.train(cfg.classify, prep, wd)
  return {"test": d_trainer.evaluate(d_fit.params, prep.folds, prep.data, "test"),
          "params": count_params(jax.tree.map(lambda a: a[0, 0], d_fit.params)),
          "train_s": d_fit.run_s}


def compare(cfg: GanStudyConfig, wd: Workdir) -> Results:
  """The study itself: every variant trained (its epoch log, image grids and quality
  measured as it goes), its discriminators pruned, then compared with a dense classifier.
  Long because it reads as the study does, one variant after another."""
  prep = classifier.prepare(cfg.classify, wd)
  to_images, grid = image_maker(prep, wd.log)
  wd.log(f"EEG images 32x32x3 from {len(grid.channels)} electrodes; GAN variants "
         f"{list(cfg.variants)}, {cfg.gan.epochs} epochs, batch {cfg.gan.batch_size}, "
         f"lr G {cfg.gan.g_learning_rate} D {cfg.gan.d_learning_rate}, "
         f"{'K+1 semi-supervised' if cfg.gan.semi_supervised else 'two-head AC-GAN'} "
         "discriminator")
  data = (prep.data[0], prep.data[1])
  has_val = has_validation(prep.folds)
  images = gan_quality.real_images(to_images, data)
  real = (*images(jax.tree.map(lambda a: a[0], prep.folds), "train"), grid.inside)
  judge = gan_quality.Judge(images, grid.inside, prep.ds.num_classes,
                            cfg.classify.hidden_sizes, cfg.classify.activation,
                            dataclasses.replace(cfg.classify.train, patience=0))
  parts = ("val", "test") if has_val else ("test",)
  outcomes, histories, prune_rows, timing, tables = {}, {}, [], {}, {}
  for variant in cfg.variants:
    trainer = _variant_trainer(cfg, variant, prep, grid, to_images, has_val)
    where = (sharding.plan(len(prep.parts), len(prep.seeds), cfg.classify.num_devices)
             .describe() if trainer.layout == "vmap" else
             "one device, model by model (--gan_layout=vmap spreads the models over "
             "--num_devices)")
    wd.log(f"{variant}: training ({trainer.layout} layout, {where})")
    by_epoch = gan_quality.EpochQuality(wd, variant, judge, parts)
    state, history, run_s = train_variant(cfg, prep, wd, variant, trainer, real, by_epoch)
    test = trainer.classify(state.best_d, prep.folds, data, "test")
    quality = by_epoch.best(trainer.generate, state.best_g, prep.folds, prep.seeds)
    wd.log(f"{variant}: best generators' samples: {gan_quality.line(quality)}")
    best_epoch = np.asarray(state.best_epoch)
    one_g = jax.tree.map(lambda a: a[0, 0], state.best_g)
    outcomes[variant] = {
        "test": {k: test[k] for k in SCALARS}, "best_epoch": best_epoch + 1,
        "at_best": {k: gan_report.at_best(history, best_epoch, f"test/{k}")
                    for k in CURVES},
        "quality": quality, "by_epoch": dict(by_epoch.by_epoch),
        "g_params": count_params(one_g),
        "d_params": count_params(jax.tree.map(lambda a: a[0, 0], state.best_d)),
        "train_s": run_s}
    histories.update({f"{variant}/{k}": v for k, v in history.items()})
    tables[f"epoch_log_{variant}.csv"] = gan_report.epoch_log(history, has_val,
                                                              by_epoch.by_epoch)
    labels = np.zeros(64, np.int32)
    timing[variant] = {"train_s": run_s, "generate_ms_64": latency_ms(
        lambda: trainer.generate(one_g, labels, jax.random.key(0)), repeats=10)}
    if cfg.prune_conv_layers:
      t0 = time.perf_counter()
      prune_rows += gan_pruning.prune_discriminator(cfg, prep, wd, variant, trainer, state.best_d)
      timing[variant]["prune_s"] = time.perf_counter() - t0
    acc = summarize_metric("accuracy", test["accuracy"])
    wd.log(f"{variant}: D class head on the test images: accuracy {acc['mean']:.4f} "
           f"[{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}]")

  dense = _dense_baseline(cfg, prep, wd) if cfg.compare_dense else None

  title = f"{prep.raw.info.name} ({prep.kind})"
  header, rows = gan_report.comparison_rows(outcomes, dense)
  curves = {v: {k.split("/", 1)[1]: h for k, h in histories.items() if k.startswith(v + "/")}
            for v in outcomes}
  if prune_rows:
    tables["gan_prune_table.csv"] = gan_pruning.prune_table(prune_rows)
  return Results(
      gan_report.gan_results(cfg, prep, grid, has_val, outcomes, dense, prune_rows),
      tables={"gan_comparison.csv": (header, rows), **tables},
      texts={"gan_comparison.md": gan_report.comparison_markdown(header, rows, title)},
      arrays={"history.npz": {k.replace("/", "__"): v for k, v in histories.items()}},
      figures=[("gan_comparison.png", lambda path: figures.gan_comparison(
                    outcomes, dense, path, title)),
               ("gan_curves.png", lambda path: figures.gan_curves(curves, path, title,
                                                                  has_val))],
      timing=timing)
