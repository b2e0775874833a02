"""The one progressive-pruning loop: the studies' hidden layers (studies/prune, studies/alcohol), the
GAN discriminator's conv channels (studies/gan), and `eegjax.pruning.prune` (one model, no
checkpoints: a sweep of one).

    repeat: measure the current networks (evaluate, analyse) -> checkpoint ->
            stop at the limit -> prune `step` units of every (fold, seed) model (vmapped)
            -> stop if distinctiveness found no pair within the thresholds

A family supplies only what differs: how a size is measured (its table row, and the Gram
matrices of the group's activations), how the Gram matrices are recomputed, the random
keys of a step and the checkpoint's metadata. Every evaluated size is checkpointed with the
rows and actions so far (when the caller passes a checkpoint folder), so a rerun continues
from the newest readable step (redoing at most one). The loop knows no training, device
layout or workdir: the family says how its step runs over the models (`call`, e.g. spread
over devices), and the checkpoint object (`steps`, `save`, `restore_latest`, `delete`) turns
the metadata into JSON.

The networks keep their trained width throughout: a pruned unit is zeroed after its merge
and marked dead in `alive` (`prune_step(..., keep_shape=True)`), which computes what the
cut network computes, so the step and the family's programs compile once for every width
and memory stays flat. Checkpoints hold the full-width arrays with the mask; `cut` gives
the structural networks (what `run` returns, and what `restore_pruned` loads).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import UserError
from eegjax.jsonable import to_json
from eegjax.pruning.progressive import PruneConfig, describe, prune_step
from eegjax.pruning.surgery import UnitGroup, expand_units, remove_units


@dataclasses.dataclass
class Family:
  """What one pruning run needs from its model family."""
  group: UnitGroup
  measure: Callable            # (params, alive, n) -> (row dict, grams or None, params);
                               # params at full width, the dead units zeroed
  grams: Callable              # (params, n) -> (F, S, U, U) Gram matrices, or a dict of
                               # them and the criterion's other statistics (prune_step)
  keys: Callable               # n -> (F, S) random keys of the step after n units
  meta: Callable = lambda n: {}   # noqa: E731  extra checkpoint metadata at size n
  log: Callable = print
  # how the jitted, vmapped step runs over the (fold, seed) models: call(fn, args) ->
  # host arrays (the studies spread the models over devices; default: one call)
  call: Optional[Callable] = None
  model_name: Callable = lambda f, s: f"fold {f}, seed index {s}"  # noqa: E731


def run(family: Family, cfg: PruneConfig, params, width: int, limit: int,
        beyond_thresholds: bool, ckpt=None, label: str = "") -> dict:
  """Prunes every model's group from `width` units until `limit` units are pruned (or no
  pair is within the thresholds). Returns {rows, actions, stop, params, alive}: one row per
  evaluated size, the actions of every step for every (fold, seed) model in the study's
  notation, why it stopped, the last evaluated (smallest) networks (cut to their living
  units; with a masked criterion at full width, zeroed), their alive masks, and step_ms:
  the wall milliseconds of each step this process ran (choice and surgery of every
  model), by the units pruned before it. `ckpt` None: nothing is saved or resumed.

  Long: resume, evaluation, checkpoint and the stop rules are one sequence per size, in the
  order they happen."""
  n_folds, n_seeds = jax.tree.leaves(params)[0].shape[:2]
  ids = jnp.broadcast_to(jnp.arange(width), (n_folds, n_seeds, width))
  alive = jnp.ones((n_folds, n_seeds, width), bool)
  pending = jnp.tile(jnp.array([-1.0, 0.0]), (n_folds, n_seeds, 1))
  step_jit = jax.jit(jax.vmap(jax.vmap(
      lambda p, i, g, k, a, q: prune_step(p, i, g, jax.random.wrap_key_data(k),
                                          family.group, cfg, alive=a, pending=q,
                                          keep_shape=True))))

  def step_fn(*args):         # host arrays in and out; the keys as raw key data
    if family.call is not None:
      return family.call(step_jit, args)
    return jax.tree.map(np.asarray, step_jit(*args))
  rows, actions, stop, n, evaluated = [], [], None, 0, False
  step_ms = {}                  # units pruned before a step -> its wall ms (this process)
  restored = None if ckpt is None else ckpt.restore_latest()
  if restored is not None:
    n, arrays, meta = restored
    params, ids, alive = arrays["params"], jnp.asarray(arrays["ids"]), jnp.asarray(
        arrays["alive"])
    pending = jnp.asarray(arrays["pending"])
    if alive.shape[-1] != width:
      raise UserError(f"{ckpt.directory}: its pruning checkpoints hold {alive.shape[-1]}-unit "
                      f"arrays, written by an earlier eegjax that cut the layer at every "
                      f"step; this version keeps the {width} trained units with a mask. "
                      "Rerun with --overwrite (or in another --workdir) to prune afresh")
    rows, actions, evaluated = meta["rows"], meta["actions"], True
    family.log(f"{label}: resuming after {n} pruned units (checkpoint {ckpt.directory})")
  while True:
    grams = None
    if not evaluated:
      row, grams, params = family.measure(params, alive, n)
      rows.append(to_json(row))
      if ckpt is not None:
        if n in ckpt.steps():       # this size was saved before an interruption
          ckpt.delete(n)
        ckpt.save(n, {"params": params, "ids": ids, "alive": alive, "pending": pending},
                  {**family.meta(n), "rows": rows, "actions": actions})
    evaluated = False
    if n + cfg.step > limit:
      stop = f"reached {n} pruned units (--max_pruned or one unit left)"
      break
    if grams is None:
      grams = family.grams(params, n)
    t0 = time.perf_counter()
    new_params, new_ids, new_alive, record, within = step_fn(
        params, ids, grams, jax.random.key_data(family.keys(n)), alive, pending)
    step_ms[n] = 1e3 * (time.perf_counter() - t0)
    within = np.asarray(within)
    if cfg.chooses_pairs and not within.all() and not beyond_thresholds:
      f, s = (int(i) for i in np.argwhere(~within)[0])
      stop = (f"no candidate pair within {cfg.similar_deg}/{cfg.complementary_deg} degrees "
              f"left for {family.model_name(f, s)} after {n} pruned units; stopped "
              "(--beyond_thresholds continues with the least distinct pairs)")
      family.log(f"{label}: {stop}")
      break
    record = jax.tree.map(np.asarray, record)
    actions.append(to_json({
        "units_pruned_after": n + cfg.step, "within_thresholds": within,
        "actions": [[describe(jax.tree.map(lambda a: a[f, s], record))
                     for s in range(n_seeds)] for f in range(n_folds)]}))
    params, ids, alive, pending = new_params, new_ids, new_alive, record["pending"]
    n += cfg.step
  if not cfg.masked:
    params = cut(params, alive, family.group)
  return {"rows": rows, "actions": actions, "stop": stop, "params": params,
          "alive": np.asarray(alive), "step_ms": step_ms}


def cut(params, alive, group: UnitGroup):
  """The structural networks of (fold, seed, ...) `params`: only the units `alive` (F, S,
  U) marks remain (every model keeps the same number). On the host, model by model: no
  XLA program per width."""
  alive = np.asarray(alive)
  params = jax.tree.map(np.asarray, params)
  models = [[remove_units(jax.tree.map(lambda a: a[f, s], params), group,
                          np.flatnonzero(alive[f, s]), xp=np) for s in range(alive.shape[1])]
            for f in range(alive.shape[0])]
  return jax.tree.map(lambda *a: np.stack(a).reshape(alive.shape[:2] + a[0].shape),
                      *[m for row in models for m in row])


def uncut(small, alive, group: UnitGroup, full):
  """The inverse of `cut`: `small`'s units back at their places in `full`'s layout, the
  dead ones zero."""
  alive = np.asarray(alive)
  keep = np.stack([[np.flatnonzero(a) for a in row] for row in alive]).astype(np.int32)
  sizes = group.sizes(jax.tree.map(lambda a: a[0, 0], full))
  return jax.vmap(jax.vmap(lambda p, k: expand_units(p, group, k, sizes)))(small, keep)
