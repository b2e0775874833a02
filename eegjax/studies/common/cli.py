"""The flags of a classifier study's binary: the classification's settings (data, split,
seeds, training, the model's own), then the study's, then the device flags
(`define_study`), and the frozen study config built from them (`study_config`, which
starts JAX on the devices the flags ask for: `setup_devices`). The
generic flag machinery (defining flags from settings, flags.cfg, one-line errors) is
`eegjax.run.flags`; what binaries call from it is re-exported here so a binary imports
one module:

    cli.define_study("mlp", study=[(PruneStudyConfig, None), (PruneConfig, None)],
                     hidden_sizes=["30"], epochs=1500)
    main = cli.binary(lambda fv: prune.run(cli.study_config(fv, "mlp", PruneStudyConfig),
                                           flagfile_text=cli.run_flags_text(fv)))
"""

from __future__ import annotations

from typing import Optional

from absl import flags

from eegjax.data.registry import DataSpec
from eegjax.errors import ConfigError
from eegjax.models.eegconv import NETWORKS
from eegjax.run.flags import (RUN_FLAGS, RENAMED, binary, build, define, define_flag,
                              run_flags_text)
from eegjax.studies.common.classifier import ClassifyConfig
from eegjax.train import TrainConfig

__all__ = ["binary", "build", "define_study", "run_flags_text", "study_config"]


def define_study(model: str, study=(), rename: Optional[dict] = None,
                 **defaults) -> None:
  """Defines a binary's flags: the classification's (data, split, seeds, training and the
  `model`'s own: mlp --activation/--inputs, rnn --cell, cnn --model=shallow|eegnet|deep4),
  then each (config class, only)
  of `study` (a study's settings, `only` None for all), then the device flags. `defaults`
  (flag=value) are this binary's defaults; a name that is not one of its flags is an
  error. `rename` {flag: name}: flags this binary spells otherwise (train_gan:
  epochs -> classifier_epochs, beside --gan_epochs); the old name is then refused with
  the new one named (by `study_config`)."""
  RUN_FLAGS.clear()
  RENAMED.clear()
  RENAMED.update(rename or {})
  for old, new in RENAMED.items():
    flags.DEFINE_string(old, None, f"not a flag of this binary: use --{new}")
  left = dict(defaults)
  define(DataSpec, defaults=left)
  if model == "cnn":
    define_flag("string", "model", left.pop("model", NETWORKS[0]),
                f"the network: {', '.join(NETWORKS)} (ShallowConvNet, EEGNet-8,2, Deep4)")
  skip = {"mlp": ("cell",), "rnn": ("activation", "inputs"),
          "cnn": ("cell", "activation", "inputs", "hidden_sizes")}[model]
  define(ClassifyConfig, defaults=left, skip=skip)
  define(TrainConfig, defaults=left)
  for cls, only in study:
    define(cls, only=only, defaults=left)
  if left:
    raise TypeError(f"define_study: {sorted(left)} are not flags of this binary")
  define_device_flags()


def study_config(fv: flags.FlagValues, model: str, cls=None, **given):
  """The binary's frozen config from its parsed flags: the ClassifyConfig of `model` (the
  CNN binaries: the --model flag's network), or a `cls` study config around it. Starts JAX on the devices the flags ask for (see
  `setup_devices`)."""
  for old, new in RENAMED.items():
    if fv[old].value is not None:
      raise ConfigError(f"--{old}={fv[old].value}: not a flag of this binary; use --{new}"
                        + (" for the classifiers and --gan_epochs for the GANs"
                           if old == "epochs" else ""))
  if model == "cnn":
    model = fv.model
  num_devices = setup_devices(fv)
  classify = build(ClassifyConfig, fv, model=model, data=build(DataSpec, fv),
                   train=build(TrainConfig, fv), workdir=process_workdir(fv.workdir),
                   num_devices=num_devices)
  return classify if cls is None else build(cls, fv, classify=classify, **given)


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

  from eegjax.run import compile_cache
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
