"""Flags from settings: each config class's settings (declared once, with default, help and
validation: `eegjax.settings`) become absl flags (`define`), parsed flags become the frozen
config (`build`), the run's flags become flags.cfg (`run_flags_text`), and a
binary's main ends a user's mistake, a full disk, Ctrl-C or SIGTERM in one line
(`binary`). Library code never reads FLAGS: binaries pass their FlagValues in. A classifier study's flag set is
`eegjax.studies.common.cli.define_study`."""

from __future__ import annotations

import dataclasses
from typing import Optional

from absl import flags

from eegjax.errors import ConfigError, UserError
from eegjax.settings import settings

# The flags of a run, in the order they were defined: every flag a binary defines through
# this module, device and cache flags apart. flags.cfg lists them to replay the run, so no
# binary keeps a list of its own (the run's identity is its config: eegjax.run.identity).
RUN_FLAGS: list[str] = []
# a setting's flag under another name in this binary (define_study's `rename`)
RENAMED: dict[str, str] = {}


def define_flag(kind, name, default, help_, **kw):
  """One run flag that no config setting declares (a binary's own choice, e.g.
  train_cnn's --model)."""
  getattr(flags, f"DEFINE_{kind}")(name, default, help_, **kw)
  RUN_FLAGS.append(name)


def run_flags_text(fv: flags.FlagValues) -> str:
  """The run's flags as a --flagfile (flags.cfg, which replays the run)."""
  return flagfile_text(fv, RUN_FLAGS)


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
    define_flag(st.kind, name, default, st.help)


def build(cls, fv: flags.FlagValues, **given):
  """A `cls` config from the parsed flags this binary defined (settings it did not define
  keep their defaults); `given` fields are passed as they are. A nested config field (a
  dataclass default such as PruneConfig) is built from the flags the same way."""
  defined = set(RUN_FLAGS)
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


class Terminated(KeyboardInterrupt):
  """SIGTERM (a scheduler's stop, `kill`): handled as Ctrl-C is, exit status 143."""


def _terminate(signum, frame):
  raise Terminated()


def exit_on_user_error(fn):
  """Wraps a binary's main: a user's mistake (UserError) or a full disk exits 1 with one
  `error: ...` line on stderr; Ctrl-C (exit 130) and SIGTERM (143) say where the run
  stopped and that the same command resumes it; anything else is a bug and keeps its
  traceback."""
  import functools
  import sys

  from absl import logging

  from eegjax.run import workdir

  @functools.wraps(fn)
  def wrapper(argv):
    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
      # library chatter (orbax, XLA) off unless asked for; what a user must know comes
      # from the run's own log lines and `error:` lines
      logging.set_verbosity(logging.ERROR)
    import signal
    import threading
    main_thread = threading.current_thread() is threading.main_thread()
    # only the main thread may set a handler (a main called from another thread keeps
    # SIGTERM's default)
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
      return fn(argv)
    except UserError as e:
      print(f"error: {e}", file=sys.stderr, flush=True)
      sys.exit(1)
    except KeyboardInterrupt as e:
      wd = workdir.active
      where = (f"; it stopped after: {wd.last}. Rerun the same command to resume it from "
               f"its last checkpoint in {wd.path}" if wd is not None and wd.last else "")
      term = isinstance(e, Terminated)
      print(f"{'terminated (SIGTERM)' if term else 'interrupted'}{where}", file=sys.stderr,
            flush=True)
      _quiet_exit(143 if term else 130)
    except Exception as e:  # noqa: BLE001 - only a full disk is turned into one line
      if not workdir.disk_full(e):
        raise
      wd = workdir.active
      print(f"error: no space left on the device ({str(e).strip().splitlines()[0][:120]})"
            + (f"; files written before in {wd.path} are intact. Free some space and rerun "
               "the same command to resume" if wd is not None else ""),
            file=sys.stderr, flush=True)
      _quiet_exit(1)
    finally:
      if main_thread:
        signal.signal(signal.SIGTERM, previous)
  return wrapper


def _quiet_exit(status: int) -> None:
  """Exits after the one line said: an orbax save cut short leaves a coroutine that Python
  reports as never awaited when it is collected at exit (two lines of RuntimeWarning on
  stderr); that save's step is incomplete, so a rerun does not use it."""
  import sys
  import warnings
  warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                          category=RuntimeWarning)
  sys.exit(status)
