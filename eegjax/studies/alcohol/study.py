"""The EEG alcoholism study (UCI SMNI): alcoholic vs control from a trial's 192 band-power
features (64 electrodes x theta/alpha/beta, log10), three ways, on the same splits and seeds:

  direct   the 4-layer dense classifier on the 192 features (192-128-64-32-2 by default)
  codes    an autoencoder compresses 64x3 -> 16x3 (eegjax.models.autoencoder); a 3-layer
           classifier learns from the codes, the encoder frozen
  pruned   the direct classifier with its hidden layers pruned by distinctiveness, one layer
           after another (eegjax.pruning, as in the brainwave study: 15/165 degrees, two
           units a step, until no pair of the layer is within the thresholds)

Every stage is a vmapped sweep over folds x seeds through the one training program, with
its own checkpoints (checkpoints/train, /autoencoder, /codes, /pruned/layer_k), so an
interrupted run resumes where it stopped. Writes comparison.csv / .md / .png (accuracy,
precision, recall, F1 as mean and 95% CI over the models; training time, parameters, input
memory, inference ms), reconstruction.png, prune_table.csv, results.json, timing.json and
history.npz. Called by experiments/classify_alcohol.py and experiments/compress_alcohol.py.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.data.splits import Split
from eegjax.errors import ConfigError
from eegjax.evaluate import prune_tables
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import summarize
from eegjax.evaluate.timing import latency_ms
from eegjax.models import MLP, BandAutoencoder, CodeClassifier, count_params
from eegjax.models.mlp import ACTIVATIONS, mlp_sizes
from eegjax.pruning import compensation as comp
from eegjax.pruning.progressive import PruneConfig
from eegjax.settings import setting
from eegjax.studies.alcohol import figures, report as alcohol_report
from eegjax.studies.common import classifier, pruned_layer
from eegjax.studies.alcohol.report import Outcome
from eegjax.studies.common.classifier import ClassifyConfig, Prepared, WrapsClassify
from eegjax.run.lifecycle import Results, run_study
from eegjax.run.workdir import Workdir
from eegjax.train import Trainer, TrainConfig, carve_validation, make_fold_arrays
from eegjax.run.checkpoints import Checkpoints
from eegjax.train.folds import scale_rows

APPROACHES = ("direct", "codes", "pruned")
NUM_BANDS = 3                     # theta, alpha, beta
# The alcoholism binaries' classifier (classify_alcohol, compress_alcohol, train_gan)
BINARY_DEFAULTS = dict(hidden_sizes=["128", "64", "32"], epochs=40, learning_rate=0.001,
                       num_folds=5, dataset="smni_synthetic", split="holdout",
                       activation="relu", inputs="band_power")


@dataclasses.dataclass(frozen=True)
class AlcoholConfig(WrapsClassify):
  classify: ClassifyConfig               # data, split, seeds and the direct classifier
  prune: PruneConfig = PruneConfig()     # pruning the direct classifier
  approaches: tuple[str, ...] = setting(
      ("direct", "pruned"), "approaches to compare: direct (dense classifier on the 192 "
      "features), codes (autoencoder + classifier on its codes), pruned (the direct "
      "classifier pruned by distinctiveness)")
  # the autoencoder
  code_size: int = setting(16, "autoencoder code per band (per_band) or code_size x 3 for "
                           "the whole vector")
  per_band: bool = setting(True, "one 64->code_size encoder per band (the study); false: "
                           "one 192->3*code_size encoder")
  ae_activation: str = setting("sigmoid", "the encoder's activation")
  ae_epochs: int = setting(100, "autoencoder training epochs")
  ae_learning_rate: float = setting(0.001, "autoencoder Adam learning rate")
  ae_val_fraction: float = setting(0.1, "fraction of each training part held out as the "
                                   "autoencoder's validation rows (its curve; best epoch "
                                   "kept)")
  # the classifier on the codes
  code_hidden_sizes: tuple[int, ...] = setting((32, 16), "hidden widths of the classifier "
                                               "on the codes (two: the study's 3-layer "
                                               "classifier)")
  code_epochs: int = setting(0, "epochs of the classifier on the codes (0 = --epochs)")
  prune_layers: tuple[int, ...] = setting((), "hidden layers of the direct classifier to "
                                          "prune, in order (default: all, first to last)")
  compensation: str = setting("merge", "what becomes of a pruned unit's contribution: merge "
                              "(the study's rule, --merge_rule), none, mean or "
                              "least_squares (eegjax.pruning.compensation)")

  def __post_init__(self):
    c = self.classify
    if not self.approaches:
      raise ConfigError(f"--approaches is empty; expected some of {','.join(APPROACHES)}")
    for a in self.approaches:
      if a not in APPROACHES:
        raise ConfigError(f"--approaches: {a!r} is not one of {','.join(APPROACHES)}")
    if len(set(self.approaches)) != len(self.approaches):
      raise ConfigError(f"--approaches={','.join(self.approaches)} names one twice")
    if c.model != "mlp":
      raise ConfigError("the alcoholism study's classifiers are dense (model mlp)")
    if "codes" in self.approaches and c.inputs != "band_power":
      raise ConfigError(f"--approaches=codes needs --inputs=band_power (the autoencoder "
                        f"reads electrodes x 3 bands); got --inputs={c.inputs}")
    if self.code_size < 1:
      raise ConfigError(f"--code_size={self.code_size}: expected a positive integer")
    if self.ae_activation not in ACTIVATIONS:
      raise ConfigError(f"--ae_activation={self.ae_activation!r}: expected one of "
                        f"{list(ACTIVATIONS)}")
    if self.ae_epochs < 1 or self.code_epochs < 0:
      raise ConfigError(f"--ae_epochs={self.ae_epochs}, --code_epochs={self.code_epochs}: "
                        "expected ae_epochs >= 1 and code_epochs >= 0 (0 = --epochs)")
    if not self.ae_learning_rate > 0:
      raise ConfigError(f"--ae_learning_rate={self.ae_learning_rate}: expected > 0")
    if not 0.0 <= self.ae_val_fraction < 1.0:
      raise ConfigError(f"--ae_val_fraction={self.ae_val_fraction}: expected [0, 1)")
    if not self.code_hidden_sizes or any(h < 1 for h in self.code_hidden_sizes):
      raise ConfigError(f"--code_hidden_sizes={list(self.code_hidden_sizes)}: expected one "
                        "or more positive widths")
    comp.check(self.compensation)
    for layer in self.prune_layers:
      if not 0 <= layer < len(c.hidden_sizes):
        raise ConfigError(f"--prune_layers: layer {layer} does not exist; the classifier "
                          f"has hidden layers 0..{len(c.hidden_sizes) - 1}")

  @property
  def layers_to_prune(self) -> tuple[int, ...]:
    return self.prune_layers or tuple(range(len(self.classify.hidden_sizes)))

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "classify": self.classify.to_json()}


# The study's flags (cli.define_study): its own settings, and the pruning thresholds
FLAGS = [(AlcoholConfig, None),
         (PruneConfig, ("merge_rule", "prune_step", "similar_deg", "complementary_deg"))]


def _one(tree, f=0, s=0):
  return jax.tree.map(lambda a: jnp.asarray(a)[f, s], tree)


def _inference_rows(prep: Prepared, limit: int = 512):
  """A batch of trials scaled with fold 0's training statistics (the timing batch)."""
  rows = jnp.arange(min(limit, prep.ds.num_examples))
  return scale_rows(prep.data, rows, prep.folds.lo[0], prep.folds.scale[0])[0]


# --- direct ---------------------------------------------------------------------------

def run_direct(cfg: AlcoholConfig, prep: Prepared, wd: Workdir):
  """Trains the direct classifier; returns (Outcome, fit)."""
  wd.log(f"direct classifier: {prep.ds.x.shape[1]}-"
         f"{'-'.join(map(str, cfg.classify.hidden_sizes))}-{prep.ds.num_classes} "
         f"{cfg.classify.activation}, {cfg.classify.train.epochs} epochs")
  trainer, fit, _ = classifier.train(cfg.classify, prep, wd)
  test = trainer.evaluate(fit.params, prep.folds, prep.data, "test")
  x = _inference_rows(prep)
  out = Outcome(
      "direct", f"dense {prep.ds.x.shape[1]}-{'-'.join(map(str, cfg.classify.hidden_sizes))}"
      f"-{prep.ds.num_classes} on the {prep.ds.x.shape[1]} features",
      {k: test[k] for k in SCALARS}, count_params(_one(fit.params)), prep.ds.x.shape[1],
      fit.run_s, fit.compile_s,
      inference_ms=latency_ms(jax.jit(prep.model.apply), _one(fit.params), x),
      inference_batch=x.shape[0])
  return out, fit


# --- codes ----------------------------------------------------------------------------

def autoencoder_folds(prep: Prepared, fraction: float, seed: int):
  """The autoencoder's folds: each fold's training rows minus a validation part (for the
  reconstruction curve and its best epoch), its test rows untouched, scaled with the
  classifier fold's statistics, so codes mean the same thing to the classifier."""
  if fraction <= 0:
    return prep.folds
  splits = [Split(np.concatenate([tr, va]), te) for tr, va, te in prep.parts]
  parts = carve_validation(prep.ds, splits, fraction, seed=seed + 104729)
  return make_fold_arrays(prep.ds, parts)._replace(lo=prep.folds.lo, scale=prep.folds.scale)


def check_code_inputs(cfg: AlcoholConfig, d: int) -> None:
  """Before any training: the inputs must be electrodes x 3 bands and the code smaller."""
  if d % NUM_BANDS:
    raise ConfigError(f"the autoencoder needs electrodes x {NUM_BANDS} band features; the "
                      f"inputs have {d}")
  if cfg.code_size >= d // NUM_BANDS:
    raise ConfigError(f"--code_size={cfg.code_size}: a code of {cfg.code_size} per band does "
                      f"not compress {d // NUM_BANDS} electrodes; expected fewer")


def run_codes(cfg: AlcoholConfig, prep: Prepared, wd: Workdir):
  """Trains the autoencoder, then the classifier on its codes; returns (Outcome, fits)."""
  c = cfg.classify
  d = prep.ds.x.shape[1]
  ae = BandAutoencoder(num_electrodes=d // NUM_BANDS, num_bands=NUM_BANDS,
                       code_size=cfg.code_size, per_band=cfg.per_band,
                       activation=cfg.ae_activation)
  code_len = cfg.code_size * NUM_BANDS
  shape = (f"{d // NUM_BANDS}x{NUM_BANDS} -> {cfg.code_size}x{NUM_BANDS} (a "
           f"{d // NUM_BANDS}->{cfg.code_size} encoder per band)" if cfg.per_band else
           f"{d} -> {code_len} (one encoder over the whole vector)")
  wd.log(f"autoencoder {shape}, {cfg.ae_epochs} epochs, lr {cfg.ae_learning_rate}, "
         f"validation {cfg.ae_val_fraction:g} of each training part")
  ae_train = TrainConfig(epochs=cfg.ae_epochs, batch_size=c.train.batch_size,
                         learning_rate=cfg.ae_learning_rate, objective="reconstruct",
                         epochs_per_call=c.train.epochs_per_call)
  ae_folds = autoencoder_folds(prep, cfg.ae_val_fraction, c.seed)
  ae_trainer, ae_fit, _ = classifier.train(c, prep, wd, model=ae, train_cfg=ae_train,
                                               folds=ae_folds, name="autoencoder")
  test_mse = ae_trainer.evaluate(ae_fit.params, prep.folds, prep.data, "test")["loss"]
  s = summarize(test_mse)
  wd.log(f"autoencoder: test reconstruction MSE {s['mean']:.5f} "
         f"[{s['ci95'][0]:.5f}, {s['ci95'][1]:.5f}] (inputs min-max scaled)")

  clf = CodeClassifier(ae, tuple(cfg.code_hidden_sizes), prep.ds.num_classes,
                       c.activation)
  code_train = dataclasses.replace(c.train, epochs=cfg.code_epochs or c.train.epochs)
  encoder = {k: v for k, v in ae_fit.params["params"].items() if k.startswith("encoder")}

  def init(trainer: Trainer):
    fresh = trainer.init(prep.seeds, prep.folds, prep.data).params["params"]
    return trainer.start_from({"params": {**fresh, "autoencoder": encoder}})

  wd.log(f"classifier on the codes: {code_len}-{'-'.join(map(str, cfg.code_hidden_sizes))}"
         f"-{prep.ds.num_classes} {c.activation}, {code_train.epochs} epochs")
  trainer, fit, _ = classifier.train(c, prep, wd, model=clf, train_cfg=code_train,
                                         name="codes", init=init)
  test = trainer.evaluate(fit.params, prep.folds, prep.data, "test")
  one = _one(fit.params)
  codes = jax.jit(lambda p, x: clf.apply(p, x, method=CodeClassifier.codes))(
      one, _inference_rows(prep))
  classify = jax.jit(lambda p, z: clf.apply(p, z, method=CodeClassifier.classify_codes))
  encode_ms = latency_ms(jax.jit(lambda p, x: ae.apply(p, x, method=BandAutoencoder.encode)),
                         {"params": one["params"]["autoencoder"]}, _inference_rows(prep))
  out = Outcome(
      "codes", f"autoencoder {shape}; dense {code_len}-"
      f"{'-'.join(map(str, cfg.code_hidden_sizes))}-{prep.ds.num_classes} on the codes",
      {k: test[k] for k in SCALARS}, count_params(one["params"]["head"]), code_len,
      fit.run_s, fit.compile_s, extra_s=ae_fit.run_s, extra_what="autoencoder training",
      inference_ms=latency_ms(classify, one, codes), inference_batch=codes.shape[0],
      details={"encoder_params": count_params(one["params"]["autoencoder"]),
               "encode_ms": encode_ms, "autoencoder_compile_s": ae_fit.compile_s,
               "test_reconstruction_mse": test_mse})
  return out, ae_fit, fit


# --- pruned ---------------------------------------------------------------------------

def run_pruned(cfg: AlcoholConfig, prep: Prepared, wd: Workdir, direct_fit,
               direct: Outcome):
  """Prunes the direct classifier's hidden layers by distinctiveness, one after another,
  each until none of its pairs is within the thresholds. Returns (Outcome, per-layer)."""
  c = cfg.classify
  params, sizes = direct_fit.params, list(c.hidden_sizes)
  per_layer, t0 = {}, time.perf_counter()
  for layer in cfg.layers_to_prune:
    if sizes[layer] <= cfg.prune.step:
      wd.log(f"pruning: layer {layer} has {sizes[layer]} units, not more than a step "
             f"({cfg.prune.step}); left as it is")
      continue
    layer_cfg = pruned_layer.PruneStudyConfig(
        classify=dataclasses.replace(c, hidden_sizes=tuple(sizes)),
        prune=cfg.prune, criteria=("distinctiveness",), compensations=(cfg.compensation,),
        layer=layer)
    ckpt = Checkpoints(wd.file(os.path.join("checkpoints", "pruned", f"layer_{layer}")),
                       keep=None, log=wd.log)
    wd.log(f"pruning hidden layer {layer} ({sizes[layer]} units) by distinctiveness, "
           f"{cfg.prune.step} a step, thresholds {cfg.prune.similar_deg}/"
           f"{cfg.prune.complementary_deg}")
    pcfg = dataclasses.replace(cfg.prune, criterion="distinctiveness",
                               compensation=cfg.compensation)
    out = pruned_layer.run_criterion(layer_cfg, prep, params, pcfg, wd, ckpt, {})
    ckpt.close()
    params = out["params"]
    sizes[layer] = mlp_sizes(_one(params))["hidden_sizes"][layer]
    per_layer[layer] = out
    wd.log(f"pruning: layer {layer} now has {sizes[layer]} units; hidden sizes {sizes}")
  prune_s = time.perf_counter() - t0
  model = MLP(tuple(sizes), prep.ds.num_classes, c.activation)
  test = Trainer(model, c.train, has_val=False).evaluate(params, prep.folds, prep.data,
                                                         "test")
  x = _inference_rows(prep)
  out = Outcome(
      "pruned", f"the direct classifier pruned by distinctiveness to "
      f"{prep.ds.x.shape[1]}-{'-'.join(map(str, sizes))}-{prep.ds.num_classes}",
      {k: test[k] for k in SCALARS}, count_params(_one(params)), prep.ds.x.shape[1],
      direct.train_s, direct.compile_s, extra_s=prune_s,
      extra_what="pruning: every step's analysis, surgery, evaluation and compiles",
      inference_ms=latency_ms(jax.jit(model.apply), _one(params), x),
      inference_batch=x.shape[0], details={"hidden_sizes": sizes})
  return out, per_layer


def run(cfg: AlcoholConfig, flagfile_text: Optional[str] = None,
        study: str = "alcohol") -> dict:
  """Runs the chosen approaches and writes the workdir (through the one runner); returns
  the results dict."""
  return run_study(cfg, flagfile_text, lambda wd: compare(cfg, wd, study))


def compare(cfg: AlcoholConfig, wd: Workdir, study: str = "alcohol") -> Results:
  """The study itself: each chosen approach trained and measured, then compared."""
  prep = classifier.prepare(cfg.classify, wd)
  if "codes" in cfg.approaches:
    check_code_inputs(cfg, prep.ds.x.shape[1])
  title = f"{prep.raw.info.name} ({prep.kind})"
  outcomes, history, extra, drawn, tables = [], {}, {}, [], {}
  direct = direct_fit = None
  if "direct" in cfg.approaches or "pruned" in cfg.approaches:
    direct, direct_fit = run_direct(cfg, prep, wd)
    history["direct_train_loss"] = direct_fit.train_loss
    if "direct" in cfg.approaches:
      outcomes.append(direct)
  if "codes" in cfg.approaches:
    codes, ae_fit, codes_fit = run_codes(cfg, prep, wd)
    outcomes.append(codes)
    history.update(alcohol_report.codes_history(ae_fit, codes_fit))
    test_mse = codes.details["test_reconstruction_mse"]
    drawn.append(("reconstruction.png", lambda path: figures.reconstruction_curve(
        ae_fit.train_loss, ae_fit.val_loss, test_mse, path, title)))
    extra["autoencoder"] = alcohol_report.autoencoder_section(cfg, codes, ae_fit)
  if "pruned" in cfg.approaches:
    pruned, per_layer = run_pruned(cfg, prep, wd, direct_fit, direct)
    outcomes.append(pruned)
    header, table = [], []
    for layer, out in per_layer.items():
      h, t = prune_tables.prune_table({"distinctiveness": out}, cfg.classify.train.grad_clip,
                                      False)
      header = ["layer", *h]
      table += [[layer, *row] for row in t]
    if table:
      tables["prune_table.csv"] = (header, table)
    extra["pruning"] = alcohol_report.pruning_section(cfg, pruned, per_layer)
  order = [a for a in APPROACHES if a in cfg.approaches]
  outcomes.sort(key=lambda o: order.index(o.approach))
  n = prep.ds.num_examples
  drawn.insert(0, ("comparison.png",
                   lambda path: figures.comparison(outcomes, path, title)))
  return Results(
      alcohol_report.comparison_results(cfg, prep, outcomes, extra, study),
      tables={"comparison.csv": alcohol_report.comparison_rows(outcomes, n), **tables},
      texts={"comparison.md": alcohol_report.comparison_markdown(outcomes, n, title)},
      arrays={"history.npz": history}, figures=drawn,
      timing={"num_devices": cfg.classify.num_devices, "devices": str(jax.devices()),
              **{o.approach: {"train_s": o.train_s, "compile_s": o.compile_s,
                              "extra_s": o.extra_s, "extra": o.extra_what,
                              "inference_ms": o.inference_ms,
                              "inference_batch": o.inference_batch,
                              **{k: v for k, v in o.details.items()
                                 if k.endswith("_ms") or k.endswith("_s")}}
                 for o in outcomes}},
      lines=[alcohol_report.outcome_line(o, title) for o in outcomes])
