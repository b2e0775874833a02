"""The experiment binaries' flags, defined from the config classes' settings (each declared
once, with its default, help and validation: `eegjax.settings`), and the frozen configs
built from parsed flags. Library code never reads FLAGS: binaries pass their FlagValues in.

    cli.define_study("mlp", study=[(PruneStudyConfig, None), (PruneConfig, None)],
                     hidden_sizes=["30"], epochs=1500)
    main = cli.binary(lambda fv: prune_study.run(cli.study_config(fv, "mlp",
                                                                  PruneStudyConfig), ...))
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from absl import flags

from eegjax.data.registry import DataSpec
from eegjax.errors import ConfigError, UserError
from eegjax.settings import settings
from eegjax.studies.framework import ClassifyConfig
from eegjax.train import TrainConfig

# The flags that make a run what it is, in the order they were defined: every flag a
# binary defines through this module, device and cache flags apart. flags.cfg holds them
# (a rerun with other values is refused), so no binary keeps a list of its own.
IDENTITY: list[tuple[str, bool]] = []     # (name, left out while at its default)
# a setting's flag under another name in this binary (define_study's `rename`)
RENAMED: dict[str, str] = {}


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


def define(cls, *, only=None, skip=(), defaults: Optional[dict] = None) -> None:
  """Defines a flag for each setting of config class `cls` (see `eegjax.settings`): all,
  or those named in `only`, less those in `skip`; `defaults` (flag -> value) replaces a
  setting's default for this binary, and its used entries are removed from it."""
  defaults = {} if defaults is None else defaults
  for st in settings(cls):
    if (only is not None and st.flag not in only) or st.flag in skip:
      continue
    name = RENAMED.get(st.flag, st.flag)
    default = defaults.pop(name, st.default)
    if st.kind == "list":
      default = [str(v) for v in default]
    _define(st.kind, name, default, st.help, st.omit_default)


def build(cls, fv: flags.FlagValues, **given):
  """A `cls` config from the parsed flags this binary defined (settings it did not define
  keep their defaults); `given` fields are passed as they are. A nested config field (a
  dataclass default such as PruneConfig) is built from the flags the same way."""
  defined = {name for name, _ in IDENTITY}
  kw = {}
  for f in dataclasses.fields(cls):
    if f.name in given:
      continue
    if dataclasses.is_dataclass(f.default):
      kw[f.name] = build(type(f.default), fv)
  for st in settings(cls):
    name = RENAMED.get(st.flag, st.flag)
    if st.field in given or name not in defined:
      continue
    v = fv[name].value
    kw[st.field] = (_ints(name, v) if st.type == "tuple[int, ...]" else
                    tuple(v) if st.kind == "list" else v)
  return cls(**kw, **given)


def define_study(model: str, study=(), rename: Optional[dict] = None,
                 **defaults) -> None:
  """Defines a binary's flags: the classification's (data, split, seeds, training and the
  `model`'s own: mlp --activation/--inputs, rnn --cell), then each (config class, only)
  of `study` (a study's settings, `only` None for all), then the device flags. `defaults`
  (flag=value) are this binary's defaults; a name that is not one of its flags is an
  error. `rename` {flag: name}: flags this binary spells otherwise (train_gan:
  epochs -> classifier_epochs, beside --gan_epochs); the old name is then refused with
  the new one named (by `study_config`)."""
  IDENTITY.clear()
  RENAMED.clear()
  RENAMED.update(rename or {})
  for old, new in RENAMED.items():
    flags.DEFINE_string(old, None, f"not a flag of this binary: use --{new}")
  left = dict(defaults)
  define(DataSpec, defaults=left)
  define(ClassifyConfig, defaults=left,
         skip=("cell",) if model == "mlp" else ("activation", "inputs"))
  define(TrainConfig, defaults=left)
  for cls, only in study:
    define(cls, only=only, defaults=left)
  if left:
    raise TypeError(f"define_study: {sorted(left)} are not flags of this binary")
  define_device_flags()


def study_config(fv: flags.FlagValues, model: str, cls=None, **given):
  """The binary's frozen config from its parsed flags: the ClassifyConfig of `model`, or
  a `cls` study config around it. Starts JAX on the devices the flags ask for (see
  `setup_devices`)."""
  for old, new in RENAMED.items():
    if fv[old].value is not None:
      raise ConfigError(f"--{old}={fv[old].value}: not a flag of this binary; use --{new}"
                        + (" for the classifiers and --gan_epochs for the GANs"
                           if old == "epochs" else ""))
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


def _ints(name: str, values) -> tuple[int, ...]:
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ConfigError(f"--{name}={','.join(values)}: expected comma-separated integers") \
        from None


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
