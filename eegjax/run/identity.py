"""A run's identity: one record, its config.json (the resolved config, `cfg.to_json()`),
and one rule for settings added after a run was made.

A rerun into a started workdir is compared key by key (nested keys joined with dots) with
the config.json there, where it lives and --overwrite apart (`EXEMPT`). The one rule: a
key the record lacks is taken at its setting's default -- a setting is added with the
default that keeps the code's earlier behaviour, so a run made before it existed is the
run made at its default. A key the record has and the config no longer has is not
compared (no rerun can set a setting that no longer exists). flags.cfg, written beside
config.json, is for replaying a run (`--flagfile=DIR/flags.cfg`); it is not checked.

    ident = identity.of(cfg)
    diffs = identity.differences(recorded_config_json, ident)   # [] when the same run
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from eegjax.jsonable import to_json

EXEMPT = ("workdir", "overwrite")   # settings that do not make a run what it is


@dataclasses.dataclass(frozen=True)
class Identity:
  record: dict      # config.json: the config as JSON
  defaults: dict    # flattened key -> its setting's default (JSON), for keys with one
  flags: dict       # flattened key -> the flag that sets it, for the messages


def of(cfg, renamed: Optional[dict] = None) -> Identity:
  """The identity of a config (a frozen dataclass with `to_json()`, or a dict); `renamed`
  {flag: name}: the binary's own spelling of a setting's flag (`eegjax.run.flags.RENAMED`)."""
  record = _json(cfg.to_json() if hasattr(cfg, "to_json") else cfg)
  defaults, names = {}, {}
  if dataclasses.is_dataclass(cfg):
    _walk(cfg, "", defaults, names, renamed or {})
  return Identity(record, defaults, names)


def flatten(record: dict, prefix: str = "") -> dict:
  """{"a": {"b": 1}} -> {"a.b": 1}, the exempt settings left out at any depth."""
  out = {}
  for k, v in record.items():
    if k in EXEMPT:
      continue
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def differences(recorded: dict, ident: Identity) -> list[str]:
  """'--flag (was .., now ..)' (a setting without a flag: its key) for each setting of this
  run whose value differs from the record's (a key the record lacks: its default, see the
  module docstring)."""
  old, new = flatten(recorded), flatten(ident.record)
  out = []
  for k in sorted(new):
    was = old[k] if k in old else ident.defaults.get(k, _UNSET)
    if was != new[k]:
      name = f"--{ident.flags[k]}" if k in ident.flags else k
      out.append(f"{name} (was {'unset' if was is _UNSET else repr(was)}, now {new[k]!r})")
  return out


_UNSET = object()


def _json(value: Any) -> Any:
  """As JSON reads it back (tuples to lists, numpy to Python)."""
  return json.loads(json.dumps(to_json(value)))


def _walk(cfg, prefix: str, defaults: dict, names: dict, renamed: dict) -> None:
  """Each field's default and flag, nested configs by their own fields."""
  for f in dataclasses.fields(cfg):
    value = getattr(cfg, f.name)
    key = prefix + f.name
    if dataclasses.is_dataclass(value):
      _walk(value, key + ".", defaults, names, renamed)
      continue
    if f.default is not dataclasses.MISSING:
      defaults[key] = _json(f.default)
    elif f.default_factory is not dataclasses.MISSING:
      defaults[key] = _json(f.default_factory())
    if "help" in f.metadata:
      flag = f.metadata["flag"] or f.name
      names[key] = renamed.get(flag, flag)
