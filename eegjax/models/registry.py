"""Models by name: a name -> a constructor (the Flax module class), and a model's spec, the
JSON a checkpoint stores (its name and constructor arguments) from which `from_spec`
builds the same module again -- so restoring a checkpoint never guesses a model from its
parameters' layer names.

    spec = registry.spec(MLP(hidden_sizes=(30,), num_classes=3))
    # {"name": "mlp", "args": {"hidden_sizes": [30], "num_classes": 3, "activation": "sigmoid"}}
    model = registry.from_spec(spec)

`register(name, cls)` adds a family (a flax.linen Module class: its dataclass fields are
its arguments; a field holding another registered module is stored as that module's spec).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn

from eegjax.errors import ConfigError
from eegjax.models.autoencoder import BandAutoencoder, CodeClassifier
from eegjax.models.eegconv import Deep4, EEGNet, ShallowConvNet
from eegjax.models.gan import DeconvGenerator, Discriminator
from eegjax.models.gated import GatedRNN
from eegjax.models.mlp import MLP
from eegjax.models.rnn import ElmanRNN
from eegjax.models.unet import UNetGenerator

MODELS: dict[str, type] = {}
_FLAX_FIELDS = ("parent", "name")


def register(name: str, cls: type) -> None:
  """Adds model family `cls` (a flax.linen Module class) under `name`."""
  if name in MODELS and MODELS[name] is not cls:
    raise ConfigError(f"model {name!r} is registered already ({MODELS[name].__name__})")
  MODELS[name] = cls


for _name, _cls in (("mlp", MLP), ("elman_rnn", ElmanRNN), ("gated_rnn", GatedRNN),
                    ("band_autoencoder", BandAutoencoder), ("code_classifier", CodeClassifier),
                    ("deconv_generator", DeconvGenerator), ("discriminator", Discriminator),
                    ("unet_generator", UNetGenerator), ("shallow", ShallowConvNet),
                    ("eegnet", EEGNet), ("deep4", Deep4)):
  register(_name, _cls)


def name_of(model: nn.Module) -> str:
  for name, cls in MODELS.items():
    if type(model) is cls:
      return name
  raise ConfigError(f"{type(model).__name__} is not a registered model; register it with "
                    "eegjax.models.registry.register(name, cls)")


def _to_json(v: Any) -> Any:
  if isinstance(v, nn.Module):
    return spec(v)
  if isinstance(v, (tuple, list)):
    return [_to_json(x) for x in v]
  return v


def spec(model: nn.Module) -> dict:
  """{"name", "args"}: what `from_spec` builds `model` again from (JSON-ready)."""
  args = {f.name: _to_json(getattr(model, f.name)) for f in dataclasses.fields(model)
          if f.name not in _FLAX_FIELDS}
  return {"name": name_of(model), "args": args}


def from_spec(s: dict) -> nn.Module:
  """The module a `spec` describes (lists back to tuples; nested specs built too)."""
  if not isinstance(s, dict) or "name" not in s or "args" not in s:
    raise ConfigError(f"model spec {s!r}: expected {{'name': ..., 'args': {{...}}}}")
  if s["name"] not in MODELS:
    raise ConfigError(f"model {s['name']!r}: not registered; expected one of "
                      f"{sorted(MODELS)}")
  cls = MODELS[s["name"]]
  fields = {f.name for f in dataclasses.fields(cls)} - set(_FLAX_FIELDS)
  unknown = set(s["args"]) - fields
  if unknown:
    raise ConfigError(f"model {s['name']!r}: unknown arguments {sorted(unknown)}; "
                      f"{cls.__name__} takes {sorted(fields)}")

  def back(v):
    if isinstance(v, dict) and set(v) == {"name", "args"}:
      return from_spec(v)
    if isinstance(v, list):
      return tuple(back(x) for x in v)
    return v
  return cls(**{k: back(v) for k, v in s["args"].items()})
