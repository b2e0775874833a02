"""Settings declared once: a config dataclass field made with `setting` carries its default,
its command-line flag's name and help; its validation is the dataclass's `__post_init__`.
`eegjax.studies.common.cli` defines the absl flags from these fields (`cli.define`) and builds the
frozen configs from parsed flags (`cli.build`); config.json is `dataclasses.asdict` of the
config (the run's identity: `eegjax.run.identity`) and flags.cfg lists the flags so
defined, to replay the run. Nothing here reads
flags, so the configs work the same from Python.

    @dataclasses.dataclass(frozen=True)
    class TrainConfig:
      epochs: int = setting(100, "training epochs")
      learning_rate: float = setting(0.01, "Adam learning rate")
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Optional

# field type (as written in the dataclass, postponed annotations) -> absl flag kind
KINDS = {"int": "integer", "float": "float", "bool": "bool", "str": "string",
         "tuple[int, ...]": "list", "tuple[str, ...]": "list"}


def setting(default: Any, help: str, *, flag: Optional[str] = None) -> Any:  # noqa: A002
  """A dataclass field that is also the flag `--flag` (default: the field's name). A
  setting added later takes the default that keeps the code's earlier behaviour: a run
  recorded before it existed is taken as made at its default (`eegjax.run.identity`)."""
  return dataclasses.field(default=default, metadata={"help": help, "flag": flag})


@dataclasses.dataclass(frozen=True)
class Setting:
  field: str          # the dataclass field
  flag: str           # the flag's name
  kind: str           # absl kind: integer, float, bool, string, list
  type: str           # the field's type as written
  default: Any
  help: str


def settings(cls) -> Iterator[Setting]:
  """The settings a config class declares, in field order (nested configs not included)."""
  for f in dataclasses.fields(cls):
    if "help" not in f.metadata:
      continue
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if t not in KINDS:
      raise TypeError(f"{cls.__name__}.{f.name}: a setting's type must be one of "
                      f"{list(KINDS)}, not {t}")
    yield Setting(f.name, f.metadata["flag"] or f.name, KINDS[t], t, f.default,
                  f.metadata["help"])
