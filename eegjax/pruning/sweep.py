"""The one progressive-pruning loop: the studies' hidden layers (studies/prune, studies/alcohol), the
GAN discriminator's conv channels (studies/gan), and `eegjax.pruning.prune` (one model, no
checkpoints: a sweep of one).

    repeat: measure the current networks (evaluate, analyse) -> checkpoint ->
            stop at the limit -> prune `step` units of every (fold, seed) model (vmapped)
            -> stop if distinctiveness found no pair within the thresholds

A family supplies only what differs: how a size is measured (its table row, and the Gram
matrices of the group's activations), how the Gram matrices are recomputed, the random
keys of a step and the checkpoint's metadata. Every evaluated size is checkpointed with the
rows and actions so far (when the caller passes a checkpoint folder), alone or in blocks of
sizes (`save_every_s`: an orbax save costs ~60 ms, more than a small network's step), so a
rerun continues from the newest readable checkpoint (redoing at most one block). The loop
knows no training, device layout or workdir: the family says how its step runs over the
models (`call`, e.g. spread over devices), and the checkpoint object (`steps`, `save`,
`restore_latest`, `delete`) turns the metadata into JSON.

The networks keep their trained width throughout: a pruned unit is zeroed after its merge
and marked dead in `alive` (`prune_step(..., keep_shape=True)`), which computes what the
cut network computes, so the step and the family's programs compile once for every width
and memory stays flat. Checkpoints hold the full-width arrays with the mask; `cut` gives
the structural networks (what `run` returns, and what `restore_pruned` loads).
"""

from __future__ import annotations

import dataclasses
import functools
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
  # the vmapped step of this run's variant (`shared_steps`), when several runs share one
  # compiled program; None: compiled for this run alone
  step: Optional[Callable] = None


BASE_STATISTICS = ("gram", "mean", "var", "count")   # what every study's analysis holds
# The step is small arithmetic on (units x units) arrays but a large program (every slot,
# criterion and compensation unrolled): without LLVM's optimisation passes it compiles in
# under half the time (the main job's 12 variants: 2.7 s against 6.0 s) and runs in ~4 ms
# instead of ~1 ms per variant and step, so it is compiled at level 0.
STEP_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def shared_steps(cfgs: list, group: UnitGroup) -> dict:
  """{cfg.label: the jitted step of every (fold, seed) model under that variant}. Variants
  whose statistics have the same keys (every analysis has gram, mean, var and count; some
  criteria need more, e.g. taylor) share one compiled program: lax.switch on the
  variant's index, so only that variant's branch runs, and the program compiles once for
  all of them (the main job's twelve criterion x compensation variants: 5.8 s against
  15.6 s one by one). The switch sits outside one vmap over the (fold x seed) models
  flattened: each branch is traced once under vmap, where a switch inside two vmaps had
  every branch's jaxpr batched twice (tracing the main job's twelve: 1.6 s against 3.9)."""
  by_needs: dict = {}
  for c in cfgs:
    extra = tuple(k for k in c.needs if k not in BASE_STATISTICS)
    by_needs.setdefault(extra, []).append(c)
  out = {}
  for group_cfgs in by_needs.values():
    branches = [jax.vmap(functools.partial(_keep_shape_step, group=group, cfg=c))
                for c in group_cfgs]
    program = jax.jit(functools.partial(_switch_over_models, branches),
                      compiler_options=STEP_COMPILER_OPTIONS)
    for i, c in enumerate(group_cfgs):
      out[c.label] = functools.partial(program, np.int32(i))
  return out


def _switch_over_models(branches, i, *args):
  """Branch i over every model: args' two leading (fold, seed) axes are flattened into
  the one its branches are vmapped over, and restored in the outputs."""
  lead = jax.tree.leaves(args)[0].shape[:2]
  flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), args)
  out = jax.lax.switch(i, branches, *flat)
  return jax.tree.map(lambda a: a.reshape(lead + a.shape[1:]), out)


def _keep_shape_step(p, i, g, k, a, q, group, cfg):
  return prune_step(p, i, g, jax.random.wrap_key_data(k), group, cfg, alive=a, pending=q,
                    keep_shape=True)


class _Block:
  """The sizes measured since the last checkpoint: saved together as one checkpoint,
  numbered by the newest size, whose arrays are that size's state (what a rerun resumes
  from) plus "earlier": {str(size): {params, alive}} of the others (what `restore_size`
  reads). `every_s` 0 saves every size as it is measured."""

  def __init__(self, ckpt, every_s: float, meta: Callable):
    self.ckpt, self.every_s, self.meta = ckpt, every_s, meta
    self.sizes: dict = {}
    self.last = time.perf_counter()

  def add(self, n: int, state: dict, rows, actions) -> None:
    if self.ckpt is None:
      return
    self.sizes[n] = (state, list(rows), list(actions))
    if time.perf_counter() - self.last >= self.every_s:
      self.flush()

  def flush(self) -> None:
    if self.ckpt is None or not self.sizes:
      return
    n = max(self.sizes)
    state, rows, actions = self.sizes.pop(n)
    earlier = {str(m): {"params": st["params"], "alive": st["alive"]}
               for m, (st, _, _) in self.sizes.items()}
    if n in self.ckpt.steps():       # this size was saved before an interruption
      self.ckpt.delete(n)
    more = {"earlier_meta": {m: self.meta(int(m)) for m in earlier}} if earlier else {}
    self.ckpt.save(n, {**state, **({"earlier": earlier} if earlier else {})},
                   {**self.meta(n), "rows": rows, "actions": actions, **more}, wait=False)
    self.sizes, self.last = {}, time.perf_counter()


def restore_size(ckpt, n: int):
  """(params, alive, meta) of size `n` (units pruned) from a sweep's checkpoints: its own
  checkpoint, or the "earlier" sizes of the block saved after it (meta: the family's
  metadata of that size). None when no checkpoint holds it."""
  steps = ckpt.steps()
  if n in steps:
    arrays, meta = ckpt.restore(n)
    return arrays["params"], arrays["alive"], meta
  later = [s for s in steps if s > n]
  if later:
    arrays, meta = ckpt.restore(later[0])
    one = arrays.get("earlier", {}).get(str(n))
    if one is not None:
      return one["params"], one["alive"], {**meta, **meta["earlier_meta"][str(n)]}
  return None


def saved_sizes(ckpt) -> list[int]:
  """Every size a sweep's checkpoints hold (from the newest one's rows)."""
  latest = ckpt.restore_latest()
  return [] if latest is None else [r["units_pruned"] for r in latest[2]["rows"]]


def run(family: Family, cfg: PruneConfig, params, width: int, limit: int,
        beyond_thresholds: bool, ckpt=None, label: str = "", save_every_s: float = 0.0) -> dict:
  """Prunes every model's group from `width` units until `limit` units are pruned (or no
  pair is within the thresholds). Returns {rows, actions, stop, params, alive}: one row per
  evaluated size, the actions of every step for every (fold, seed) model in the study's
  notation, why it stopped, the last evaluated (smallest) networks (cut to their living
  units; with a masked criterion at full width, zeroed), their alive masks, and step_ms:
  the wall milliseconds of each step this process ran (choice and surgery of every
  model), by the units pruned before it. `ckpt` None: nothing is saved or resumed.
  `save_every_s`: sizes are checkpointed together in blocks of about that many seconds of
  work (and at the end), so a rerun redoes at most that much; 0: every size alone.

  Long: resume, evaluation, checkpoint and the stop rules are one sequence per size, in the
  order they happen."""
  n_folds, n_seeds = jax.tree.leaves(params)[0].shape[:2]
  ids = jnp.broadcast_to(jnp.arange(width), (n_folds, n_seeds, width))
  alive = jnp.ones((n_folds, n_seeds, width), bool)
  pending = jnp.tile(jnp.array([-1.0, 0.0]), (n_folds, n_seeds, 1))
  step_jit = family.step or shared_steps([cfg], family.group)[cfg.label]

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
  block = _Block(ckpt, save_every_s, family.meta)
  while True:
    grams = None
    if not evaluated:
      row, grams, params = family.measure(params, alive, n)
      rows.append(to_json(row))
      block.add(n, {"params": params, "ids": ids, "alive": alive, "pending": pending},
                rows, actions)
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
  block.flush()
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
