"""absl flag definitions shared by the experiment binaries, and the frozen configs built
from them. Library code never reads FLAGS: binaries pass their FlagValues in."""

from __future__ import annotations

from absl import flags

from eegjax.data.registry import DATASETS, FORMATS, DataSpec
from eegjax.errors import ConfigError, UserError
from eegjax.data.splits import SPLIT_KINDS
from eegjax.studies.classification import ClassifyConfig
from eegjax.train import TrainConfig

# The flags that make a run what it is, in the order they were defined: every flag a
# binary defines through this module, device and cache flags apart. flags.cfg holds them
# (a rerun with other values is refused), so no binary keeps a list of its own.
IDENTITY: list[tuple[str, bool]] = []     # (name, left out while at its default)


def _define(kind, name, default, help_, omit_default: bool = False, **kw):
  getattr(flags, f"DEFINE_{kind}")(name, default, help_, **kw)
  IDENTITY.append((name, omit_default))


def identity_text(fv: flags.FlagValues) -> str:
  """The run's identity flags as a --flagfile (flags.cfg)."""
  names = [n for n, omit in IDENTITY if not (omit and fv[n].value == fv[n].default)]
  return flagfile_text(fv, names)


def binary(run):
  """A binary's main from `run(FLAGS)`: refuses stray arguments, and ends a user's mistake,
  a full disk or Ctrl-C with one line (see `exit_on_user_error`)."""
  @exit_on_user_error
  def main(argv):
    if len(argv) > 1:
      raise ConfigError(f"unexpected arguments {argv[1:]}; flags take the form --name=value")
    return run(flags.FLAGS)
  return main


def define_classify_flags(*, hidden_sizes: list[str], epochs: int, learning_rate: float,
                          num_folds: int, dataset: str = "scp1", split: str = "auto") -> None:
  """Defines the flags of train_mlp.py / train_rnn.py with the given defaults (first: a
  binary's identity starts here)."""
  IDENTITY.clear()
  _define("string", "dataset", dataset,
          f"built-in dataset: {', '.join(DATASETS)} (ignored when --data_path is set)")
  _define("string", "data_path", "", "a data file to load instead of a built-in dataset")
  _define("string", "data_format", "",
          f"format of --data_path: {', '.join(FORMATS)} (default: from its extension)")
  _define("string", "label_column", "label", "CSV: the class label column")
  _define("string", "group_column", "", "CSV: the participant / group id column")
  _define("list", "channels", [], "channels to use, by name or 0-based index (default all)")
  _define("float", "sampling_rate", 0.0, "override the data's sampling rate in Hz (0 = keep)")
  _define("integer", "data_seed", 0, "seed of the synthetic generators")
  _define("bool", "skip_bad_trials", False, "smni / smni_csv: skip malformed trials (each "
          "reported) instead of stopping at the first")
  _define("integer", "median_filter", 1, "odd median-filter width on sequences (1 = off)")
  _define("string", "split", split,
          f"cross-validation: {', '.join(SPLIT_KINDS)} (auto = group if groups exist, "
          "else stratified)")
  _define("integer", "num_folds", num_folds, "number of cross-validation folds")
  _define("integer", "num_seeds", 1, "number of seeds (each trains every fold)")
  _define("integer", "seed", 0, "first seed; seeds are seed .. seed+num_seeds-1; also "
          "seeds the fold assignment")
  _define("float", "val_fraction", 0.0,
          "fraction of each training fold held out for validation (best epoch kept)")
  _define("integer", "patience", 0, "early stopping after this many epochs without "
          "validation improvement (0 = off)")
  _define("integer", "epochs", epochs, "training epochs")
  _define("integer", "batch_size", 32, "minibatch size")
  _define("float", "learning_rate", learning_rate, "Adam learning rate")
  _define("list", "hidden_sizes", hidden_sizes, "hidden layer widths")
  _define("float", "grad_clip", 0.0, "clip gradients to this global norm (0 = off)")
  _define("integer", "epochs_per_call", 0,
          "epochs per compiled call, i.e. between progress lines (0 = a tenth of the run)")
  _define("string", "workdir", "", "folder the run writes into (required)")
  _define("bool", "overwrite", False, "replace a finished run in --workdir")
  define_device_flags()


def define_device_flags() -> None:
  """Where a sweep runs. Not part of a run's identity: results do not depend on them, and
  a run may resume on another device count."""
  for name in DEVICE_FLAGS:
    if name in flags.FLAGS:
      return
  flags.DEFINE_integer("num_devices", 0, "devices to spread the (fold, seed) models over; "
                       "0 = all (on CPU: one XLA host device per core)")
  flags.DEFINE_string("coordinator_address", "", "multi-host: host:port of process 0 for "
                      "jax.distributed.initialize (empty = one process)")
  flags.DEFINE_integer("num_processes", 1, "multi-host: number of processes")
  flags.DEFINE_integer("process_id", 0, "multi-host: this process's index")
  flags.DEFINE_string("compilation_cache", "", "folder of JAX's persistent compilation "
                      "cache, so reruns and resumed runs do not recompile (default "
                      "$EEGJAX_CACHE_DIR, else ~/.cache/eegjax/jax; none = off)")


DEVICE_FLAGS = ("num_devices", "coordinator_address", "num_processes", "process_id",
                "compilation_cache")


def setup_devices(fv: flags.FlagValues) -> int:
  """Starts JAX on the devices the flags ask for (call first in main, before any JAX
  work). Multi-host: `jax.distributed.initialize` with the coordinator flags, after which
  jax.devices() spans every host. Returns the number of devices a sweep may use."""
  import jax

  from eegjax import compile_cache
  from eegjax.train import sharding
  compile_cache.enable(fv.compilation_cache)
  if fv.coordinator_address:
    if not 0 <= fv.process_id < fv.num_processes:
      raise ConfigError(f"--process_id={fv.process_id}: expected 0..{fv.num_processes - 1}"
                        f" for --num_processes={fv.num_processes}")
    if not sharding._backends_initialized():
      # CPU processes exchange results through gloo (GPU/TPU use their own collectives)
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=fv.coordinator_address,
                               num_processes=fv.num_processes, process_id=fv.process_id)
  return sharding.setup_devices(fv.num_devices)


def process_workdir(workdir: str) -> str:
  """Multi-host: process 0 writes the run's workdir; process k > 0 computes the same
  results (every result is gathered to every process) into workdir/process_k, so no two
  processes write one file."""
  import os

  import jax
  k = jax.process_index()
  return workdir if k == 0 or not workdir else os.path.join(workdir, f"process_{k}")


def define_mlp_flags(activation: str = "sigmoid", inputs: str = "auto") -> None:
  """--activation and --inputs (train_mlp.py / prune_mlp.py)."""
  _define("string", "activation", activation, "hidden activation: sigmoid, tanh or relu")
  _define("string", "inputs", inputs, "MLP inputs for sequence data: features (25 per "
                      "channel; auto), raw (flattened samples) or band_power (log10 theta, "
                      "alpha, beta power per channel: the alcoholism study's 192 for SMNI)")


def define_rnn_flags() -> None:
  """--cell (train_rnn.py / prune_rnn.py)."""
  # left out of flags.cfg while elman, so earlier runs' workdirs still resume
  _define("string", "cell", "elman", "recurrent cell: elman (the study's tanh RNN), gru "
          "or lstm (flax.linen cells)", omit_default=True)


def define_threshold_flags(units: str) -> None:
  """--prune_step and the distinctiveness thresholds, shared by every pruning binary."""
  _define("integer", "prune_step", 2, f"{units} pruned per step")
  _define("float", "similar_deg", 15.0, "pairs under this angle are similar (merged)")
  _define("float", "complementary_deg", 165.0,
                     "pairs over this angle are complementary (removed)")




def define_prune_flags(criteria: list[str]) -> None:
  """The pruning flags of prune_mlp.py / prune_rnn.py (added to the classification flags)."""
  _define("list", "criteria", criteria, "pruning criteria to compare at equal size: "
                    "distinctiveness (structural), distinctiveness_masked (zeroed, size "
                    "kept: the music study's RNN variant), magnitude, random")
  _define("string", "order", "study", "distinctiveness order: study (units with the most "
                      "similar partners first) or gentle (fewest first)")
  _define("string", "merge_rule", "paper", "paper (outgoing weights added; complementary "
                      "pairs both removed) or scaled (least-squares scale c, bias shift)")
  _define("integer", "prune_layer", 0, "hidden layer to prune (0-based)")
  _define("integer", "max_pruned", 0, "units to prune at most (0 = until one is left)")
  define_threshold_flags("units")
  _define("bool", "beyond_thresholds", False, "when no pair is within the thresholds, go "
                    "on with the least distinct pairs instead of stopping")
  _define("integer", "finetune_epochs", 0, "retrain this many epochs after every step "
                       "(0 = evaluate as-is only)")


def prune_config(fv: flags.FlagValues, classify: ClassifyConfig):
  from eegjax.studies.prune_study import PruneStudyConfig
  return PruneStudyConfig(
      classify=classify, criteria=tuple(fv.criteria), rule=fv.merge_rule, order=fv.order,
      layer=fv.prune_layer, step=fv.prune_step, max_pruned=fv.max_pruned,
      similar_deg=fv.similar_deg, complementary_deg=fv.complementary_deg,
      beyond_thresholds=fv.beyond_thresholds, finetune_epochs=fv.finetune_epochs)




def define_alcohol_flags(approaches: list[str]) -> None:
  """The alcoholism study's flags (classify_alcohol.py / compress_alcohol.py), added to the
  classification flags (which configure the data, split, seeds and direct classifier)."""
  _define("list", "approaches", approaches, "approaches to compare: direct (dense "
                    "classifier on the 192 features), codes (autoencoder + classifier on "
                    "its codes), pruned (the direct classifier pruned by distinctiveness)")
  _define("integer", "code_size", 16, "autoencoder code per band (per_band) or code_size "
                       "x 3 for the whole vector")
  _define("bool", "per_band", True, "one 64->code_size encoder per band (the study); "
                    "false: one 192->3*code_size encoder")
  _define("string", "ae_activation", "sigmoid", "the encoder's activation")
  _define("integer", "ae_epochs", 100, "autoencoder training epochs")
  _define("float", "ae_learning_rate", 0.001, "autoencoder Adam learning rate")
  _define("float", "ae_val_fraction", 0.1, "fraction of each training part held out as "
                     "the autoencoder's validation rows (its curve; best epoch kept)")
  _define("list", "code_hidden_sizes", ["32", "16"], "hidden widths of the classifier on "
                    "the codes (two: the study's 3-layer classifier)")
  _define("integer", "code_epochs", 0, "epochs of the classifier on the codes (0 = --epochs)")
  _define("list", "prune_layers", [], "hidden layers of the direct classifier to prune, in "
                    "order (default: all, first to last)")
  define_threshold_flags("units")
  _define("string", "merge_rule", "paper", "paper (outgoing weights added; complementary "
                      "pairs both removed) or scaled (least-squares scale c, bias shift)")


def alcohol_config(fv: flags.FlagValues, classify: ClassifyConfig):
  from eegjax.studies.alcohol import AlcoholConfig
  return AlcoholConfig(
      classify=classify, approaches=tuple(fv.approaches), code_size=fv.code_size,
      per_band=fv.per_band, ae_activation=fv.ae_activation, ae_epochs=fv.ae_epochs,
      ae_learning_rate=fv.ae_learning_rate, ae_val_fraction=fv.ae_val_fraction,
      code_hidden_sizes=_ints("code_hidden_sizes", fv.code_hidden_sizes),
      code_epochs=fv.code_epochs, prune_layers=_ints("prune_layers", fv.prune_layers),
      prune_step=fv.prune_step, similar_deg=fv.similar_deg,
      complementary_deg=fv.complementary_deg, merge_rule=fv.merge_rule)


def _ints(name: str, values) -> tuple[int, ...]:
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ConfigError(f"--{name}={','.join(values)}: expected comma-separated integers") \
        from None


def classify_config(fv: flags.FlagValues, model: str, **extra) -> ClassifyConfig:
  """Frozen config from parsed flags (`extra` adds binary-specific fields). Starts JAX on
  the devices the flags ask for (see `setup_devices`)."""
  num_devices = setup_devices(fv)
  return ClassifyConfig(
      model=model,
      data=DataSpec(dataset=fv.dataset, data_path=fv.data_path, data_format=fv.data_format,
                    label_column=fv.label_column, group_column=fv.group_column,
                    data_seed=fv.data_seed, sampling_rate=fv.sampling_rate,
                    skip_bad_trials=fv.skip_bad_trials),
      train=TrainConfig(epochs=fv.epochs, batch_size=fv.batch_size,
                        learning_rate=fv.learning_rate, patience=fv.patience,
                        epochs_per_call=fv.epochs_per_call, grad_clip=fv.grad_clip),
      workdir=process_workdir(fv.workdir), hidden_sizes=_ints("hidden_sizes", fv.hidden_sizes),
      channels=tuple(fv.channels), median_filter=fv.median_filter, split=fv.split,
      num_folds=fv.num_folds, num_seeds=fv.num_seeds, seed=fv.seed,
      val_fraction=fv.val_fraction, overwrite=fv.overwrite,
      num_devices=num_devices, **extra)


def flagfile_text(fv: flags.FlagValues, names: list[str]) -> str:
  """The given flags as a --flagfile (one `--name=value` a line)."""
  lines = []
  for name in names:
    if name == "overwrite":   # replaying a run's flags must not wipe it
      continue
    v = fv[name].value
    if isinstance(v, list):
      v = ",".join(str(i) for i in v)
    elif isinstance(v, bool):
      v = str(v).lower()
    lines.append(f"--{name}={v}")
  return "\n".join(lines) + "\n"


def exit_on_user_error(fn):
  """Wraps a binary's main: a user's mistake (UserError) or a full disk exits 1 with one
  `error: ...` line on stderr; Ctrl-C exits 130 saying where the run stopped and that the
  same command resumes it; anything else is a bug and keeps its traceback."""
  import functools
  import sys

  from absl import logging

  from eegjax.studies import workdir

  @functools.wraps(fn)
  def wrapper(argv):
    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
      # library chatter (orbax, XLA) off unless asked for; what a user must know comes
      # from the run's own log lines and `error:` lines
      logging.set_verbosity(logging.ERROR)
    try:
      return fn(argv)
    except UserError as e:
      print(f"error: {e}", file=sys.stderr, flush=True)
      sys.exit(1)
    except KeyboardInterrupt:
      wd = workdir.active
      where = (f"; it stopped after: {wd.last}. Rerun the same command to resume it from "
               f"its last checkpoint in {wd.path}" if wd is not None and wd.last else "")
      print(f"interrupted{where}", file=sys.stderr, flush=True)
      sys.exit(130)
    except Exception as e:  # noqa: BLE001 - only a full disk is turned into one line
      if not workdir.disk_full(e):
        raise
      wd = workdir.active
      print(f"error: no space left on the device ({str(e).strip().splitlines()[0][:120]})"
            + (f"; files written before in {wd.path} are intact. Free some space and rerun "
               "the same command to resume" if wd is not None else ""),
            file=sys.stderr, flush=True)
      sys.exit(1)
  return wrapper




def define_gan_flags() -> None:
  """train_gan.py's flags, added to the classification flags (data, split, seeds, and the
  dense classifier trained alongside for the comparison)."""
  _define("list", "generator", ["deconv", "unet"], "generators to train: deconv and/or "
                    "unet (each --upsample form)")
  _define("list", "upsample", ["resize", "transpose"], "U-Net upsampling: resize "
                    "(nearest + conv) and/or transpose (transposed conv)")
  _define("bool", "semi_supervised", False, "K+1-output discriminator instead of a class "
                    "head and a real/fake head")
  _define("integer", "noise_dim", 64, "deconv generator's noise size")
  _define("list", "g_features", ["64", "32", "16"], "deconv generator widths at 8, 16, 32 px")
  _define("list", "unet_features", ["16", "32", "64", "64"], "U-Net widths at 32, 16, 8, 4 px")
  _define("list", "d_features", ["32", "64", "128"], "discriminator conv widths")
  _define("integer", "gan_epochs", 30, "GAN training epochs")
  _define("float", "g_learning_rate", 2e-4, "generator Adam learning rate")
  _define("float", "d_learning_rate", 2e-4, "discriminator Adam learning rate")
  _define("float", "beta1", 0.5, "Adam's beta1 for both networks")
  _define("string", "gan_layout", "auto", "vmap (models side by side: GPU/TPU), loop "
                      "(model by model: fast on CPU) or auto")
  _define("integer", "checkpoint_every", 5, "epochs between resumable checkpoints")
  _define("list", "image_epochs", [], "epochs whose generated image grids are saved "
                    "(default: the first and the last)")
  _define("integer", "images_per_class", 6, "images per class in each grid")
  _define("list", "prune_conv_layers", [], "discriminator conv layers to prune by "
                    "distinctiveness after training, in order (default none)")
  _define("list", "conv_criteria", ["distinctiveness"], "criteria for the conv channels, "
                    "each from the best discriminators: distinctiveness, magnitude, random")
  _define("integer", "max_pruned", 0, "channels to prune per layer at most (0 = no limit)")
  _define("bool", "beyond_thresholds", False, "when no channel pair is within the "
                    "thresholds, go on with the least distinct pairs (up to --max_pruned)")
  define_threshold_flags("channels")
  _define("bool", "compare_dense", True, "also train the study's dense classifier on the "
                    "192 band powers (same split and seeds) for the comparison")


def gan_config(fv: flags.FlagValues, classify: ClassifyConfig):
  from eegjax.studies.gan_study import GanStudyConfig
  from eegjax.train.gan_fit import GanConfig
  variants = []
  for g in fv.generator:
    if g == "deconv":
      variants.append("deconv")
    elif g == "unet":
      for u in fv.upsample:
        if u not in ("resize", "transpose"):
          raise ConfigError(f"--upsample: {u!r} is not one of resize, transpose")
        variants.append(f"unet_{u}")
    else:
      raise ConfigError(f"--generator: {g!r} is not one of deconv, unet")
  return GanStudyConfig(
      classify=classify,
      gan=GanConfig(epochs=fv.gan_epochs, batch_size=fv.batch_size,
                    g_learning_rate=fv.g_learning_rate, d_learning_rate=fv.d_learning_rate,
                    beta1=fv.beta1, semi_supervised=fv.semi_supervised),
      variants=tuple(variants), noise_dim=fv.noise_dim,
      g_features=_ints("g_features", fv.g_features),
      unet_features=_ints("unet_features", fv.unet_features),
      d_features=_ints("d_features", fv.d_features), layout=fv.gan_layout,
      checkpoint_every=fv.checkpoint_every, image_epochs=_ints("image_epochs", fv.image_epochs),
      images_per_class=fv.images_per_class,
      prune_conv_layers=_ints("prune_conv_layers", fv.prune_conv_layers),
      conv_criteria=tuple(fv.conv_criteria),
      prune_step=fv.prune_step, max_pruned=fv.max_pruned,
      beyond_thresholds=fv.beyond_thresholds, similar_deg=fv.similar_deg,
      complementary_deg=fv.complementary_deg, compare_dense=fv.compare_dense)
