"""Spreading a sweep's models over devices: the (folds, seeds) axes of every training array
sharded over a 2-D device mesh with `jax.sharding`.

A study trains F folds x S seeds independent models in one vmapped program (see
`eegjax.train.fit`). Here that program's model axes are laid over devices: a Mesh of shape
(a, b) with axes ("folds", "seeds"), a*b <= the devices asked for, chosen so the busiest
device holds the fewest models (then using the fewest devices). When a does not divide F
(or b S) the axis is padded by repeating its last fold (seed): the copies train exact
duplicates of a real model and are cut off before anything leaves `fit`. Inputs are laid out
with `jax.make_array_from_callback` and results read back with `process_allgather`, so the
same code runs on one process or on several hosts after `jax.distributed.initialize`.

On a CPU-only machine the default gives XLA one host device per core
(`jax_num_cpu_devices`): XLA's CPU backend issues a vmapped small matmul model by model on
one core, so two host devices on two cores train a sweep about twice as fast.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from eegjax.arrays import traced
from eegjax.errors import ConfigError

FOLDS, SEEDS = "folds", "seeds"


def _backends_initialized() -> bool:
  from jax._src import xla_bridge  # no public query for this
  return xla_bridge.backends_are_initialized()


def setup_devices(num_devices: int = 0) -> int:
  """Call before any JAX computation (the binaries do, first thing in main). On CPU, makes
  `num_devices` XLA host devices (0 = one per core); on GPU/TPU the devices are what the
  machine has. Returns how many devices a sweep may use. When JAX is already running (in
  a test, a notebook), the devices it has are used and asking for more is an error."""
  if num_devices < 0:
    raise ConfigError(f"--num_devices={num_devices}: expected >= 0 (0 = all devices)")
  if not _backends_initialized():
    want = num_devices or os.cpu_count() or 1
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
      jax.config.update("jax_num_cpu_devices", want)
  have = len(jax.devices())
  if num_devices > have:
    raise ConfigError(
        f"--num_devices={num_devices}: only {have} {jax.devices()[0].platform} device(s) "
        "here (on CPU, set the count before JAX starts: run the binary afresh, or set "
        "XLA_FLAGS=--xla_force_host_platform_device_count=N)")
  return num_devices or have


@dataclasses.dataclass(frozen=True)
class ModelLayout:
  """Where each (fold, seed) model lives: the mesh and the padded axis sizes."""
  mesh: Optional[Mesh]     # None: one device, no sharding at all
  num_folds: int           # real sizes
  num_seeds: int
  padded_folds: int
  padded_seeds: int

  def describe(self) -> str:
    if self.mesh is None:
      return "1 device"
    a, b = self.mesh.devices.shape
    pad = self.padded_folds * self.padded_seeds - self.num_folds * self.num_seeds
    extra = f", {pad} padding model(s)" if pad else ""
    return (f"{a * b} {self.mesh.devices.flat[0].platform} devices "
            f"(folds over {a}, seeds over {b}{extra})")

  # -- shardings --------------------------------------------------------------------------
  def spec(self, *axes) -> Optional[NamedSharding]:
    return None if self.mesh is None else NamedSharding(self.mesh, P(*axes))

  @property
  def models(self):          # leaves shaped (folds, seeds, ...)
    return self.spec(FOLDS, SEEDS)

  # -- moving arrays ----------------------------------------------------------------------
  def put_models(self, tree):
    """(F, S, ...) leaves -> padded and sharded over the mesh."""
    if self.mesh is None:
      return tree
    return jax.tree.map(lambda a: _put(_pad(_pad(np.asarray(a), 0, self.padded_folds),
                                            1, self.padded_seeds), self.models), tree)

  def put_folds(self, tree):
    """(F, ...) leaves (FoldArrays) -> padded over folds and sharded."""
    if self.mesh is None:
      return tree
    return jax.tree.map(lambda a: _put(_pad(np.asarray(a), 0, self.padded_folds),
                                       self.spec(FOLDS)), tree)

  def put_seeds(self, seeds):
    if self.mesh is None:
      return seeds
    return _put(_pad(np.asarray(seeds), 0, self.padded_seeds), self.spec(SEEDS))

  def put_shared(self, tree):
    """Leaves every model reads (the dataset): a full copy on each device."""
    if self.mesh is None:
      return tree
    return jax.tree.map(lambda a: None if a is None else _put(np.asarray(a), self.spec()),
                        tree, is_leaf=lambda a: a is None)

  def get_models(self, tree):
    """Sharded (F', S', ...) leaves -> host numpy (F, S, ...), padding cut off."""
    return jax.tree.map(lambda a: to_host(a)[:self.num_folds, :self.num_seeds], tree)

  def call(self, fn, args, kinds: str):
    """fn(*args) with every argument laid out by its kind -- `kinds` has one letter per
    argument: m (F, S, ...) model leaves, f (F, ...) fold leaves, S (S,) seeds, s shared
    by every model (the data, a scalar) -- and fn's outputs, (F, S, ...) leaves, back on the host without padding.
    fn is jitted and vmapped over the models; on a mesh its model axes run spread over
    the devices, without a mesh it runs as it is."""
    if self.mesh is None:
      return jax.tree.map(np.asarray, fn(*args))
    put = {"m": self.put_models, "f": self.put_folds, "S": self.put_seeds,
           "s": self.put_shared}
    return self.get_models(fn(*(put[k](a) for k, a in zip(kinds, args, strict=True))))


def _pad(a: np.ndarray, axis: int, size: int) -> np.ndarray:
  n = a.shape[axis]
  if n == size:
    return a
  reps = np.take(a, [n - 1] * (size - n), axis=axis)
  return np.concatenate([a, reps], axis=axis)


def _put(a: np.ndarray, sharding: NamedSharding) -> jax.Array:
  return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])


def to_host(a) -> np.ndarray:
  """A (possibly sharded, possibly multi-host) array as one host numpy array."""
  if isinstance(a, jax.Array) and not a.is_fully_addressable:
    return np.asarray(multihost_utils.process_allgather(a, tiled=True))
  return np.asarray(a)


def plan(num_folds: int, num_seeds: int, num_devices: int,
         devices: Optional[Sequence[Any]] = None) -> ModelLayout:
  """The mesh for F x S models on up to `num_devices` devices: the (a, b) grid that puts
  the fewest models on the busiest device, then uses the fewest devices, then pads least
  (folds before seeds on ties)."""
  devices = list(jax.devices() if devices is None else devices)
  if num_devices < 1:
    raise ConfigError(f"num_devices={num_devices}: expected >= 1")
  num_devices = min(num_devices, len(devices))
  best = None
  for a in range(1, num_devices + 1):
    for b in range(1, num_devices // a + 1):
      fa, sb = -(-num_folds // a), -(-num_seeds // b)
      key = (fa * sb, a * b, fa * a * sb * b, -a)
      if best is None or key < best[0]:
        best = (key, a, b)
  _, a, b = best
  pf, ps = -(-num_folds // a) * a, -(-num_seeds // b) * b
  if a * b == 1:
    return ModelLayout(None, num_folds, num_seeds, num_folds, num_seeds)
  mesh = Mesh(np.array(devices[:a * b]).reshape(a, b), (FOLDS, SEEDS))
  return ModelLayout(mesh, num_folds, num_seeds, pf, ps)


def stack_models(outs: list, n_f: int, n_s: int):
  """Per-model results (fold-major, seed-minor) stacked into (F, S, ...) leaves: what a
  layout that runs the models one by one returns in place of a vmapped program's. Stacked
  on the host and put back as jax arrays (typed PRNG keys and traced values with
  jax.numpy): an eager jnp.stack would compile an XLA program per leaf shape."""
  def stack(*a):
    if jax.dtypes.issubdtype(a[0].dtype, jax.dtypes.prng_key) or traced(a):
      return jnp.stack(a).reshape((n_f, n_s) + a[0].shape)
    return jax.device_put(np.stack([np.asarray(x) for x in a]).reshape(
        (n_f, n_s) + a[0].shape))
  return jax.tree.map(stack, *outs)
