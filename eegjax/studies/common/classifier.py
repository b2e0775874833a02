"""The classifier every study trains, and no study's own code: the classification config
(`ClassifyConfig`: data, inputs, split, seeds, classifier, training), loading and preparing
the data (`prepare`: inputs -- `eegjax.studies.common.inputs` --, folds, seeds, model), the one way to build a classifier
(`build_model` / `ClassifyConfig.build`), training with checkpoints and resume (`train`,
through the training driver), and the training results and tables. The studies
(classify, prune, alcohol, gan) use this module and never each other; the one runner
(`eegjax.run.lifecycle`) opens their workdirs and writes what they return.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import jax
import numpy as np

from eegjax.data import DataSpec, Dataset, load
from eegjax.data.splits import SPLIT_KINDS, make_splits
from eegjax.errors import ConfigError
from eegjax.settings import setting
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import CI_NOTE, summarize_metric
from eegjax.models import MLP, ElmanRNN, count_params, registry
from eegjax.models.eegconv import NETWORKS, sized_for
from eegjax.models.gated import CELLS, GatedRNN
from eegjax.models.mlp import ACTIVATIONS
from eegjax.run.workdir import Workdir
from eegjax.train import memory
from eegjax.train import (TrainConfig, Trainer, carve_validation, device_data,
                          make_fold_arrays)
from eegjax.run.checkpoints import Checkpoints
from eegjax.train.folds import FoldArrays, has_validation
from eegjax.studies.common.inputs import prepare_inputs

MODELS = ("mlp", "rnn") + NETWORKS     # NETWORKS: the EEG conv nets on raw trials
RNN_CELLS = ("elman",) + CELLS
INPUTS = ("auto", "features", "raw", "band_power")   # MLP inputs for sequence data


@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
  model: str                                 # mlp | rnn | shallow | eegnet | deep4
  data: DataSpec
  train: TrainConfig
  channels: tuple[str, ...] = setting((), "channels to use, by name or 0-based index "
                                      "(default all)")
  median_filter: int = setting(1, "odd median-filter width on sequences (1 = off)")
  split: str = setting("auto", f"cross-validation: {', '.join(SPLIT_KINDS)} (auto = group "
                       "if groups exist, else stratified)")
  num_folds: int = setting(10, "number of cross-validation folds")
  repeats: int = setting(1, "repeated k-fold: this many k-fold partitions, each drawn anew "
                         "(seed + r); models = folds x repeats x seeds, and pruning's "
                         "paired tests count folds x repeats")
  num_seeds: int = setting(1, "number of seeds (each trains every fold)")
  seed: int = setting(0, "first seed; seeds are seed .. seed+num_seeds-1; also seeds the "
                      "fold assignment")
  val_fraction: float = setting(0.0, "fraction of each training fold held out for "
                                "validation (best epoch kept)")
  hidden_sizes: tuple[int, ...] = setting((30,), "hidden layer widths")
  activation: str = setting("sigmoid", "MLP hidden activation: sigmoid, tanh or relu")
  inputs: str = setting("auto", "MLP inputs for sequence data: features (25 per channel; "
                        "auto), raw (flattened samples) or band_power (log10 theta, alpha, "
                        "beta power per channel: the alcoholism study's 192 for SMNI)")
  cell: str = setting("elman", "recurrent cell: elman (the study's tanh RNN), gru or lstm "
                      "(flax.linen cells)")
  workdir: str = setting("", "folder the run writes into (required)")
  overwrite: bool = setting(False, "replace a finished run in --workdir")
  # Devices the (fold, seed) models are spread over. Results do not depend on it, so it
  # stays out of config.json / results.json (timing.json records it).
  num_devices: int = 1

  def __post_init__(self):
    if self.model not in MODELS:
      raise ConfigError(f"--model={self.model}: expected one of {list(NETWORKS)}"
                        if self.model not in ("mlp", "rnn") and self.model.isidentifier()
                        else f"model {self.model!r}: expected one of {MODELS}")
    if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
      raise ConfigError(f"--hidden_sizes={list(self.hidden_sizes)}: expected one or more "
                       "positive layer widths")
    if self.model == "rnn" and len(self.hidden_sizes) != 1:
      raise ConfigError(f"--hidden_sizes={list(self.hidden_sizes)}: the Elman RNN has one "
                       "hidden layer; expected a single width")
    if self.cell not in RNN_CELLS:
      raise ConfigError(f"--cell={self.cell!r}: expected one of {list(RNN_CELLS)}")
    if self.activation not in ACTIVATIONS:
      raise ConfigError(f"--activation={self.activation!r}: expected one of "
                       f"{list(ACTIVATIONS)}")
    if self.inputs not in INPUTS:
      raise ConfigError(f"--inputs={self.inputs!r}: expected one of {list(INPUTS)}")
    if self.repeats < 1:
      raise ConfigError(f"--repeats={self.repeats}: expected at least 1")
    if self.num_seeds < 1:
      raise ConfigError(f"--num_seeds={self.num_seeds}: expected at least 1")
    if self.seed < 0:
      raise ConfigError(f"--seed={self.seed}: expected an integer >= 0")
    if len(set(self.channels)) < len(self.channels):
      raise ConfigError(f"--channels={','.join(self.channels)}: a channel is named twice; "
                        "expected each channel once")
    if not 0.0 <= self.val_fraction < 1.0:
      raise ConfigError(f"--val_fraction={self.val_fraction}: expected a value in [0, 1)")
    if self.train.patience and not self.val_fraction:
      raise ConfigError("--patience needs a validation part: set --val_fraction > 0")
    if self.data.test_path and self.split not in ("auto", "official"):
      raise ConfigError(f"--test_path with --split={self.split}: the test file is the "
                        "official test part; expected --split=official (or auto)")

  @property
  def is_cnn(self) -> bool:
    return self.model in NETWORKS

  def build(self, num_classes: int, hidden_sizes=None, ds: Optional[Dataset] = None):
    """This config's classifier (at other hidden sizes when given); a conv network is
    sized for the prepared trials `ds` (their length and sampling rate)."""
    if self.is_cnn:
      if ds is None or not ds.is_sequence:
        raise ConfigError(f"--model={self.model} needs the prepared trials to size it")
      return sized_for(self.model, num_classes, ds.x.shape[1], ds.info.sampling_rate)
    return build_model(self.model, self.hidden_sizes if hidden_sizes is None else
                       hidden_sizes, num_classes, self.activation, self.cell)

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    d.pop("num_devices")
    return d


class WrapsClassify:
  """Mixin for the study configs built around a ClassifyConfig (`self.classify`): the
  workdir and overwrite flag are the classification's."""

  @property
  def workdir(self):
    return self.classify.workdir

  @property
  def overwrite(self):
    return self.classify.overwrite


def build_model(family: str, hidden_sizes, num_classes: int, activation: str = "sigmoid",
                cell: str = "elman"):
  """The classifier of a family at given sizes: the one place models are built (for
  training, for every pruned width, and from a checkpoint's metadata)."""
  if family == "mlp":
    return MLP(hidden_sizes=tuple(hidden_sizes), num_classes=num_classes,
               activation=activation)
  if cell == "elman":
    return ElmanRNN(hidden_size=hidden_sizes[0], num_classes=num_classes)
  return GatedRNN(hidden_size=hidden_sizes[0], num_classes=num_classes, cell=cell)


@dataclasses.dataclass
class Prepared:
  """Everything a study needs before training: data, inputs, folds, seeds, model."""
  raw: Dataset                 # as loaded (provenance)
  ds: Dataset                  # the model's inputs
  inputs: str                  # description of the inputs
  split_kind: str
  parts: list                  # per fold (train, val, test) row indices
  folds: FoldArrays
  data: tuple                  # (x, y, lengths) on device
  seeds: list
  model: object

  @property
  def kind(self) -> str:
    return "real" if self.raw.info.real else "synthetic"


def prepare(cfg: ClassifyConfig, wd: Workdir) -> Prepared:
  """Loads the data, builds the inputs, the folds and the model; logs what it did."""
  raw = load(cfg.data)
  kind = "real" if raw.info.real else "synthetic"
  wd.provenance = (raw.info.name, kind)
  signal = "MEG" if "MEG, not EEG" in raw.info.description else "EEG"   # hmd says so
  wd.log(f"dataset {raw.info.name} ({kind} {signal}): {raw.num_examples} examples, "
         f"shape {raw.x.shape}, classes {list(raw.class_names)}, source {raw.info.source}")
  ds, inputs = prepare_inputs(cfg, raw)
  wd.log(f"inputs: {inputs}")
  split = "official" if cfg.split == "auto" and cfg.data.test_path else cfg.split
  split_kind, splits = make_splits(split, cfg.num_folds, y=ds.y, groups=ds.groups,
                                   seed=cfg.seed, official_test=ds.official_test,
                                   repeats=cfg.repeats)
  parts = carve_validation(ds, splits, cfg.val_fraction, seed=cfg.seed)
  prep = Prepared(raw=raw, ds=ds, inputs=inputs, split_kind=split_kind, parts=parts,
                  folds=make_fold_arrays(ds, parts), data=device_data(ds),
                  seeds=[cfg.seed + i for i in range(cfg.num_seeds)],
                  model=cfg.build(ds.num_classes, ds=ds))
  layout = (f"the official split ({len(parts[0][0]) + len(parts[0][1])} training rows"
            f"{f', {len(parts[0][1])} of them validation' if len(parts[0][1]) else ''}; "
            f"{len(parts[0][2])} test rows)" if split_kind == "official" else
            f"one {split_kind} split (test part 1/{cfg.num_folds})" if len(parts) == 1
            and split_kind.endswith("holdout") else
            f"{split_kind} {cfg.num_folds}-fold x {cfg.repeats} repetitions" if cfg.repeats > 1
            else f"{split_kind} {len(parts)}-fold")
  wd.log(f"{layout} x {cfg.num_seeds} seed(s) = "
         f"{len(parts) * cfg.num_seeds} models; "
         f"{describe_model(cfg, prep.model)}; "
         f"{cfg.train.epochs} epochs, batch {cfg.train.batch_size}, "
         f"lr {cfg.train.learning_rate}; devices {jax.devices()}")
  return prep


def train(cfg: ClassifyConfig, prep: Prepared, wd: Workdir, *, model=None,
          train_cfg: Optional[TrainConfig] = None, folds: Optional[FoldArrays] = None,
          name: str = "train", init=None):
  """Trains every (fold, seed) model, checkpointing after every block of epochs under
  checkpoints/`name` and resuming from the newest readable checkpoint. Returns (trainer,
  fit result, checkpoints).

  By default the model is the study's classifier on `prep.folds`; the alcoholism study
  passes its autoencoder (`model`, `train_cfg`, `folds`) and its code classifier, whose
  start `init(trainer)` returns (a TrainState with pretrained parts)."""
  model = prep.model if model is None else model
  train_cfg = cfg.train if train_cfg is None else train_cfg
  folds = prep.folds if folds is None else folds
  trainer = Trainer(model, train_cfg, has_val=has_validation(folds),
                    num_devices=cfg.num_devices)
  check_memory(cfg, prep, model, train_cfg, len(folds.fold_id), wd, name,
               vmapped=trainer.vmapped)
  ckpt = Checkpoints(wd.file(os.path.join("checkpoints", name)), log=wd.log)
  state = None if init is None else init(trainer)
  fit = trainer.fit(prep.seeds, folds, prep.data, state=state, log=wd.log, checkpoints=ckpt,
                    label="" if name == "train" else name)
  return trainer, fit, ckpt


def check_memory(cfg: ClassifyConfig, prep: Prepared, model, train_cfg: TrainConfig,
                 num_folds: int, wd: Workdir, name: str = "train", *,
                 vmapped: bool = True) -> None:
  """Refuses, in one line, a sweep whose estimated memory (`eegjax.train.memory`) exceeds
  what the machine has, before anything is compiled. `vmapped`: the trainer's layout (the
  loop layout computes one model at a time)."""
  models = num_folds * len(prep.seeds)
  need, have = memory.check_sweep(model, prep.data, models, train_cfg.batch_size,
                                  train_cfg.eval_batch_size,
                                  in_flight=None if vmapped else 1)
  if not memory.fits(need, have):
    raise ConfigError(
        f"{name}: {num_folds} folds x {len(prep.seeds)} seeds (--num_seeds) = {models} "
        f"models of this size need {memory.describe(need, have)}; expected fewer models "
        "(--num_seeds, --num_folds, --repeats) or a smaller network (--hidden_sizes) or "
        "batch (--batch_size)")


def training_results(cfg: ClassifyConfig, prep: Prepared, trainer: Trainer, fit,
                     study: str) -> dict:
  """The results dict of a training run: provenance, protocol, per-run metrics, summaries."""
  test = trainer.evaluate(fit.params, prep.folds, prep.data, "test")
  train_m = trainer.evaluate(fit.params, prep.folds, prep.data, "train")
  runs = []
  for f, (tr, va, te) in enumerate(prep.parts):
    for s, seed in enumerate(prep.seeds):
      hist = fit.train_loss[f, s]
      runs.append({
          "seed": seed, "fold": f, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
          "epochs_trained": int(np.sum(np.isfinite(hist))),
          "best_epoch": int(np.asarray(fit.state.best_epoch)[f, s]) + 1,
          "final_train_loss": float(hist[np.isfinite(hist)][-1]),
          "train_accuracy": float(train_m["accuracy"][f, s]),
          "test": {k: test[k][f, s] for k in test},
      })
  summary = {k: summarize_metric(k, test[k]) for k in SCALARS}
  summary["train_accuracy"] = summarize_metric("accuracy", train_m["accuracy"])
  per_class = {k: {c: summarize_metric(k, test[f"{k}_per_class"][..., i])
                   for i, c in enumerate(prep.ds.class_names)}
               for k in ("precision", "recall", "specificity", "f1")}
  return {
      "study": study,
      "dataset": {**prep.raw.summary(), "data": prep.kind, "inputs": prep.inputs},
      "model": model_summary(cfg, prep.model, jax.tree.map(lambda a: a[0, 0], fit.params)),
      "protocol": {"split": prep.split_kind, "test_part": test_part(prep),
                   "num_folds": len(prep.parts), "seeds": prep.seeds,
                   **({"repeats": cfg.repeats, "folds_per_repeat": cfg.num_folds}
                      if cfg.repeats > 1 else {}),
                   "val_fraction": cfg.val_fraction, "patience": cfg.train.patience,
                   "grad_clip": cfg.train.grad_clip or None,
                   "normalisation": "min-max fitted on each fold's training rows"},
      "summary": summary,
      "summary_per_class": per_class,
      "ci_note": CI_NOTE,
      "software": software_versions(),
      "runs": runs,
  }


def describe_model(cfg: ClassifyConfig, model) -> str:
  """The model in a log line."""
  if cfg.is_cnn:
    args = registry.spec(model)["args"]
    return f"{type(model).__name__} " + ", ".join(
        f"{k}={v}" for k, v in args.items() if k not in ("num_classes", "channels_last"))
  return (f"{cfg.cell if cfg.model == 'rnn' and cfg.cell != 'elman' else cfg.model} "
          f"{list(cfg.hidden_sizes)}")


def model_summary(cfg: ClassifyConfig, model, one_params) -> dict:
  """results.json's "model": the family, its sizes and its parameter count (trainable
  parameters; a conv network's BatchNorm running statistics counted apart)."""
  if cfg.is_cnn:
    return {"family": "cnn", "network": cfg.model, "spec": registry.spec(model),
            "num_params": count_params(one_params["params"]),
            "num_batch_stats": count_params(one_params.get("batch_stats", {}))}
  return {"family": cfg.model, "hidden_sizes": list(cfg.hidden_sizes),
          "activation": cfg.activation if cfg.model == "mlp" else "tanh",
          **({"cell": cfg.cell} if cfg.model == "rnn" and cfg.cell != "elman" else {}),
          "num_params": count_params(one_params)}


def software_versions() -> dict:
  """The versions a run's numbers were computed with (reproduction is checked against
  the same versions)."""
  import importlib.metadata as md
  import platform
  out = {"python": platform.python_version()}
  for name in ("jax", "jaxlib", "flax", "optax", "numpy"):
    try:
      out[name] = md.version(name)
    except md.PackageNotFoundError:
      out[name] = None
  return out


def test_part(prep: Prepared) -> str:
  """What the reported test figures were measured on, in words."""
  if prep.split_kind == "official":
    return ("the data's official test file as given; models trained (and chosen on a "
            "validation part, if any) on its official training file")
  return (f"the held-out part of a {prep.split_kind} split" if len(prep.parts) == 1 else
          f"each model's test fold of {prep.split_kind} {len(prep.parts)}-fold "
          "cross-validation over all rows")


def run_table(results: dict) -> tuple[list, list]:
  """results.csv's (header, rows): one row per (seed, fold) and mean / std / CI rows."""
  summary, runs = results["summary"], results["runs"]
  header = ["seed", "fold", "n_train", "n_test", *SCALARS]
  rows = [[r["seed"], r["fold"], r["n_train"], r["n_test"], *(r["test"][k] for k in SCALARS)]
          for r in runs]
  for stat in ("mean", "std"):
    rows.append([stat, "", "", "", *(summary[k][stat] for k in SCALARS)])
  rows.append(["ci95_low", "", "", "", *(summary[k]["ci95"][0] for k in SCALARS)])
  rows.append(["ci95_high", "", "", "", *(summary[k]["ci95"][1] for k in SCALARS)])
  return header, rows


def history_arrays(fit) -> dict:
  """history.npz's arrays: every model's training (and validation) loss per epoch."""
  hist = {"train_loss": fit.train_loss}
  if fit.val_loss is not None:
    hist["val_loss"] = fit.val_loss
  return hist
