import os

# Tests run on the CPU with float32, whatever the machine has, on two XLA host devices:
# the binaries then spread their models over both (eegjax.train.sharding), so every binary
# test also exercises the sharded path.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

# One persistent compilation cache for the session (a fresh folder each run, so results
# never depend on an earlier run): the many identical programs the tests compile -- in
# this process and in the binaries they start as subprocesses, which inherit the
# variables -- are compiled once.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="eegjax_xla_")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# XLA's CPU backend without LLVM's optimisation passes: the tests' programs are tiny and
# run once or twice, so compiling dominates (about half the suite's time at the default
# level) and optimised code buys nothing. The HLO, and so what is computed, is the same;
# the binaries a user runs keep the default level.
# XLA's newer MLIR fusion emitters are off too: each compile of them builds an MLIR context
# with every dialect, about 20 of the 50 ms a tiny program (most of the suite's eager ops
# and test-sized models) takes to compile here; the classic emitters compute the same HLO.
for _flag in ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false"):
  if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 2)

import importlib.util
import pathlib

import pytest
from absl import flags

REPO = pathlib.Path(__file__).resolve().parents[1]


def assert_json_close(a, b, where="", rel=1e-5, abs_=1e-6):
  """Equal JSON trees (results.json), numbers to float rounding; `where` names the path."""
  if isinstance(a, dict):
    assert sorted(a) == sorted(b), where
    for k in a:
      assert_json_close(a[k], b[k], f"{where}.{k}", rel, abs_)
  elif isinstance(a, list):
    assert len(a) == len(b), where
    for i, (u, v) in enumerate(zip(a, b)):
      assert_json_close(u, v, f"{where}[{i}]", rel, abs_)
  elif isinstance(a, float):
    assert b == pytest.approx(a, rel=rel, abs=abs_), where
  else:
    assert a == b, where


@pytest.fixture
def binary():
  """Imports experiments/<name>.py as a module; the absl flags it defines are removed
  afterwards so the next binary can define its own (absl flags are process-global).
  absl's own flags (--verbosity, first defined on the way) stay."""
  added = []

  def load(name):
    before = set(flags.FLAGS)
    spec = importlib.util.spec_from_file_location(f"bin_{name}", REPO / "experiments" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for flag in set(flags.FLAGS) - before:
      owner = flags.FLAGS.find_module_defining_flag(flag) or ""
      if not owner.startswith("absl"):       # absl.logging's --verbosity etc. stay
        added.append(flag)
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    return module

  yield load
  for flag in added:
    delattr(flags.FLAGS, flag)


# The flags of the shared tiny train_mlp / prune_mlp reference runs (`reference_run`): the
# tests that need a finished run of either use these, so one run serves them all.
TRAIN_MLP = dict(dataset="music_features", epochs=4, num_folds=3, num_seeds=2,
                 hidden_sizes=["6"], split="group", epochs_per_call=2)
PRUNE_MLP = dict(TRAIN_MLP, max_pruned=4, criteria=["distinctiveness", "magnitude"],
                 beyond_thresholds=True)
TRAIN_RNN = dict(dataset="eyes", epochs=2, num_folds=2, hidden_sizes=["6"], channels=["0"])


@pytest.fixture
def reference_run(tmp_path_factory):
  """reference_run(module, name, **flags) -> the workdir of a finished run of binary
  `name` (its module, as the `binary` fixture loaded it) with those flags. Made once for
  the whole session -- every xdist worker shares it, under a file lock -- so tests that
  need an uninterrupted run to compare with, or a finished workdir to damage, do not each
  compute one. Read it, or copy it (shutil.copytree) before changing anything."""
  import fcntl
  import hashlib
  from absl.testing import flagsaver

  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent                         # shared by the workers of this session

  def get(module, name, **flag_values):
    key = hashlib.sha1(repr((name, sorted(flag_values.items()))).encode()).hexdigest()[:12]
    wd, done = root / f"reference_{name}_{key}", root / f"reference_{name}_{key}.done"
    with open(root / f"reference_{key}.lock", "w") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      if not done.exists():
        shutil.rmtree(wd, ignore_errors=True)   # a run another worker did not finish
        with flagsaver.flagsaver(workdir=str(wd), **flag_values):
          module.main([f"{name}.py"])
        done.write_text("")
    return wd

  return get


# Modules whose tests run binaries or whole sweeps, heaviest first (measured with
# --durations): collected before the rest, so xdist hands them out first and the many
# quick tests fill the workers' ends.
HEAVY_FIRST = ("test_gan.py", "test_regimes.py", "test_alcohol.py", "test_resume.py",
               "test_prune_study.py", "test_workdir_faults.py", "test_sharding.py",
               "test_binaries.py", "test_progressive.py", "test_prune_eegconv.py",
               "test_discover.py")


def pytest_collection_modifyitems(config, items):
  rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable within a module


@pytest.fixture
def interrupt_after_save(monkeypatch):
  """interrupt_after_save(when): the next checkpoint save for which when(directory, step)
  holds completes, then the run is interrupted as Ctrl-C would (KeyboardInterrupt): a
  deterministic, in-process kill at a known point (tests/test_resume.py keeps one real
  SIGKILL of a process)."""
  from eegjax.run.checkpoints import Checkpoints
  real_save = Checkpoints.save

  def arm(when):
    def save(self, step, arrays, meta, wait=True):
      real_save(self, step, arrays, meta)        # written before the interruption
      if when(self.directory, step):
        monkeypatch.setattr(Checkpoints, "save", real_save)      # once
        raise KeyboardInterrupt
    monkeypatch.setattr(Checkpoints, "save", save)
  return arm
