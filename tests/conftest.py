import os

# Tests run on the CPU with float32, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import importlib.util
import pathlib

import pytest
from absl import flags

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def binary():
  """Imports experiments/<name>.py as a module; its absl flags are removed afterwards so
  the next binary can define its own (absl flags are process-global)."""
  added = []

  def load(name):
    before = set(flags.FLAGS)
    spec = importlib.util.spec_from_file_location(f"bin_{name}", REPO / "experiments" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    added.extend(set(flags.FLAGS) - before)
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    return module

  yield load
  for name in added:
    delattr(flags.FLAGS, name)
