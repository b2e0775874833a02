"""The one progressive-pruning loop of every study: the MLP / RNN study's hidden layers
(prune_study) and the GAN discriminator's conv channels (gan_study).

    repeat: measure the current networks (evaluate, analyse) -> checkpoint ->
            stop at the limit -> prune `step` units of every (fold, seed) model (vmapped)
            -> stop if distinctiveness found no pair within the thresholds

A family supplies only what differs: how a size is measured (its table row, and the Gram
matrices of the group's activations), how the Gram matrices are recomputed, the random
keys of a step and the checkpoint's metadata. Every evaluated size is checkpointed with the
rows and actions so far, so a rerun continues from the newest readable step (redoing at
most one).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.pruning.progressive import PruneConfig, describe, prune_step
from eegjax.pruning.surgery import UnitGroup
from eegjax.studies.workdir import to_json
from eegjax.train.checkpoint import Checkpoints


@dataclasses.dataclass
class Family:
  """What one pruning run needs from its model family."""
  group: UnitGroup
  measure: Callable            # (params, alive, n) -> (row dict, grams or None, params)
  grams: Callable              # (params, n) -> (F, S, U, U) Gram matrices
  keys: Callable               # n -> (F, S) random keys of the step after n units
  meta: Callable = lambda n: {}   # noqa: E731  extra checkpoint metadata at size n
  log: Callable = print
  model_name: Callable = lambda f, s: f"fold {f}, seed index {s}"  # noqa: E731


def run(family: Family, cfg: PruneConfig, params, width: int, limit: int,
        beyond_thresholds: bool, ckpt: Checkpoints, label: str) -> dict:
  """Prunes every model's group from `width` units until `limit` units are pruned (or no
  pair is within the thresholds). Returns {rows, actions, stop, params}: one row per
  evaluated size, the actions of every step for every (fold, seed) model in the study's
  notation, why it stopped and the last evaluated (smallest) networks."""
  n_folds, n_seeds = jax.tree.leaves(params)[0].shape[:2]
  ids = jnp.broadcast_to(jnp.arange(width), (n_folds, n_seeds, width))
  alive = jnp.ones((n_folds, n_seeds, width), bool)
  pending = jnp.tile(jnp.array([-1.0, 0.0]), (n_folds, n_seeds, 1))
  step_fn = jax.jit(jax.vmap(jax.vmap(
      lambda p, i, g, k, a, q: prune_step(p, i, g, k, family.group, cfg, alive=a,
                                          pending=q))))
  rows, actions, stop, n, evaluated = [], [], None, 0, False
  restored = ckpt.restore_latest()
  if restored is not None:
    n, arrays, meta = restored
    params, ids, alive = arrays["params"], jnp.asarray(arrays["ids"]), jnp.asarray(
        arrays["alive"])
    pending = jnp.asarray(arrays["pending"])
    rows, actions, evaluated = meta["rows"], meta["actions"], True
    family.log(f"{label}: resuming after {n} pruned units (checkpoint {ckpt.directory})")
  while True:
    grams: Optional[jax.Array] = None
    if not evaluated:
      row, grams, params = family.measure(params, alive, n)
      rows.append(to_json(row))
      if n in ckpt.steps():       # this size was saved before an interruption
        ckpt.manager.delete(n)
      ckpt.save(n, {"params": params, "ids": ids, "alive": alive, "pending": pending},
                {**family.meta(n), "rows": rows, "actions": actions})
    evaluated = False
    if n + cfg.step > limit:
      stop = f"reached {n} pruned units (--max_pruned or one unit left)"
      break
    if grams is None:
      grams = family.grams(params, n)
    new_params, new_ids, new_alive, record, within = step_fn(
        params, ids, grams, family.keys(n), alive, pending)
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
  return {"rows": rows, "actions": actions, "stop": stop, "params": params}
