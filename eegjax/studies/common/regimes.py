"""Controls beside one-shot pruning: is a pruned network better than the same small network
got another way? (Liu et al. 2019, "Rethinking the value of network pruning"; Blalock et
al. 2020, "What is the state of neural network pruning?")

At each compute level of --regime_macs (percent of the trained network's multiply-adds per
trial), the evaluated size whose multiply-adds are nearest is taken, and there:

  oneshot   each pruned network as the pruning loop left it, not retrained (the sweep's rows)
  finetune  each pruned network (every criterion x compensation) retrained --regime_epochs
            epochs, Adam re-initialised, its pruned units held at zero
  scratch   the pruned architecture (its layer widths) trained from a fresh initialisation
            (an init key independent of the trained network's) for the trained network's
            epochs
  uniform   the dense network with every hidden layer narrowed by one factor to the nearest
            multiply-adds, trained from scratch the same way; where that is the pruned
            architecture itself (one hidden layer), it is the scratch network and is not
            trained twice

All run on the same folds, seeds, batch order and test rows as the pruned networks, so every
comparison pairs model by model. Every variant keeps the trained width with its pruned units
masked (`eegjax.models.masked`): all variants of a regime are one vmapped program through
the one training driver (seeds repeated along the seed axis), checkpointed under
checkpoints/regime-<name> and resumed like the study's own training.

The primary comparisons are fixed from the configuration before anything is trained
(`primary_plan`): at each level, the best network of each pruning regime against scratch,
and each criterion against random within each pruning regime (best compensation of each
criterion). The best is the variant with the highest mean test accuracy, chosen on the test
rows, which favours pruning; Holm's correction runs over that family only. Every other
comparison is exploratory (raw p).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import ConfigError
from eegjax.evaluate import prune_tables, stats
from eegjax.evaluate.cost import count_trainable, multiply_adds
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import summarize_metric
from eegjax.models.masked import Masked, masked_variables, unmasked
from eegjax.pruning import sweep
from eegjax.pruning.surgery import zero_units
from eegjax.run.checkpoints import Checkpoints
from eegjax.studies.common import classifier
from eegjax.train.fit import FRESH_INIT, Trainer

REGIMES = ("oneshot", "finetune", "scratch", "uniform")
PRUNING_REGIMES = ("oneshot", "finetune")
# --regime_side_by_side, declared by every pruning binary's config (prune_mlp / prune_rnn,
# prune_cnn) with this help
SIDE_BY_SIDE_HELP = ("variants trained side by side in one program (0: as many as half the "
                     "free memory holds); the number sets its float rounding, so a run's "
                     "timing.json regimes_training side_by_side repeats it exactly")


def check(regimes, levels, epochs: int, side_by_side: int = 0) -> None:
  """One line for a bad --regimes, --regime_macs, --regime_epochs or
  --regime_side_by_side."""
  bad = [r for r in regimes if r not in REGIMES]
  if bad or not regimes or "oneshot" not in regimes or len(set(regimes)) != len(regimes):
    raise ConfigError(f"--regimes={','.join(regimes)}: expected oneshot and any of "
                      f"{','.join(REGIMES[1:])}, each once")
  if not levels or any(not 0 < v < 100 for v in levels) or len(set(levels)) != len(levels):
    raise ConfigError(f"--regime_macs={','.join(map(str, levels))}: expected distinct "
                      "percentages of the trained network's multiply-adds, each in 1..99")
  if epochs < 1 and "finetune" in regimes:
    raise ConfigError(f"--regime_epochs={epochs}: expected >= 1 fine-tuning epochs")
  if side_by_side < 0:
    raise ConfigError(f"--regime_side_by_side={side_by_side}: expected a number of "
                      "variants >= 1, or 0 for as many as half the free memory holds")


def _example(prep):
  x, _, lengths = prep.data
  return (x[:1],) if lengths is None else (x[:1], lengths[:1])


def cost(cfg, prep, widths) -> dict:
  """Multiply-adds per trial and trainable parameters of the study's classifier with
  hidden layers `widths`, read from its traced program (`eegjax.evaluate.cost`)."""
  model = cfg.classify.build(prep.ds.num_classes, tuple(widths))
  example = _example(prep)
  params = jax.eval_shape(model.init, jax.random.key(0), *example)
  apply = (model.apply if len(example) == 1 else
           (lambda p, x, l: model.apply(p, x, lengths=l)))
  return {"macs": int(multiply_adds(apply, params, *example)),
          "params": count_trainable(params)}


def levels(cfg, prep) -> tuple[list[dict], dict]:
  """Where the regimes are compared: for each --regime_macs percentage, the evaluated size
  (a whole number of pruning steps) whose multiply-adds are nearest; its pruned widths,
  the uniform widths nearest the same multiply-adds, and both costs. Also the cost of
  every size, {str(units pruned): {macs, params}}."""
  hidden = tuple(cfg.classify.hidden_sizes)
  full = cost(cfg, prep, hidden)
  sizes = range(cfg.prune.step, cfg.limit + 1, cfg.prune.step)
  pruned = {n: cost(cfg, prep, _widths(hidden, cfg.layer, hidden[cfg.layer] - n))
            for n in sizes}
  out = []
  for pct in cfg.regime_macs:
    n = min(pruned, key=lambda k: (abs(pruned[k]["macs"] - pct / 100 * full["macs"]), k))
    uniform = _uniform(cfg, prep, hidden, pruned[n]["macs"])
    out.append({"percent": pct, "units_pruned": n,
                "widths": list(_widths(hidden, cfg.layer, hidden[cfg.layer] - n)),
                "macs": pruned[n]["macs"], "params": pruned[n]["params"],
                "macs_fraction": pruned[n]["macs"] / full["macs"],
                "uniform_widths": list(uniform[0]), "uniform_macs": uniform[1]["macs"],
                "uniform_params": uniform[1]["params"]})
  if len({o["units_pruned"] for o in out}) != len(out):
    raise ConfigError(f"--regime_macs={','.join(map(str, cfg.regime_macs))}: two levels "
                      f"fall on one size of the {hidden[cfg.layer]}-unit layer pruned "
                      f"{cfg.prune.step} at a time; expected levels further apart")
  return out, {"0": full, **{str(n): c for n, c in pruned.items()}}


def _widths(hidden, layer, width):
  out = list(hidden)
  out[layer] = width
  return tuple(out)


def _uniform(cfg, prep, hidden, target):
  """Every hidden layer times one factor (at least one unit each), the factor whose
  multiply-adds are nearest `target`: (widths, cost)."""
  best = None
  for k in range(1, max(hidden) + 1):
    widths = tuple(max(1, round(h * k / max(hidden))) for h in hidden)
    c = cost(cfg, prep, widths)
    if best is None or abs(c["macs"] - target) < abs(best[1]["macs"] - target):
      best = (widths, c)
  return best


def declare(cfg, wd, prep) -> None:
  """With controls asked for, before anything is trained: refuses a --regime_side_by_side
  whose fine-tuned variants the memory cannot hold side by side (one line naming the
  flag, not after training and pruning, whose checkpoints a changed flag could not resume),
  and writes primary_comparisons.json."""
  if len(cfg.regimes) <= 1:
    return
  if getattr(cfg, "regime_side_by_side", 0) and "finetune" in cfg.regimes:
    variants = len(cfg.criteria) * len(cfg.compensations) * len(cfg.regime_levels)
    _variants_that_fit(cfg, prep, Masked(prep.model), cfg.classify.train, variants)
  wd.write_json("primary_comparisons.json", primary_plan(cfg))


def primary_plan(cfg) -> dict:
  """The primary comparisons, named from the configuration alone, before any number
  exists (module docstring); the rest is exploratory."""
  pruning = [r for r in cfg.regimes if r in PRUNING_REGIMES]
  family = []
  for pct in cfg.regime_levels:
    if "scratch" in cfg.regimes:
      family += [{"level": pct, "compare": f"best {r}", "against": "scratch"}
                 for r in pruning]
    if "random" in cfg.criteria:
      family += [{"level": pct, "compare": f"{r}: best {c}", "against": f"{r}: best random"}
                 for r in pruning for c in cfg.criteria if c != "random"]
  return {"family": family,
          "best": "the variant (criterion x compensation) with the highest mean test "
                  "accuracy at that level; chosen on the test rows, which favours pruning",
          "correction": f"{stats.HOLM}, over these {len(family)} comparisons only",
          "exploratory": "every other difference (each variant against scratch, against "
                         "uniform, oneshot against finetune): raw p, not corrected"}


def masks(groups, params, alive):
  """(F, S, ...) masks of the params tree: 0 on the slices of the dead units of each group
  (`alive`: one (F, S, U) array per group of `groups`), 1 elsewhere."""
  ones = jax.tree.map(lambda a: jnp.ones_like(a[0, 0]), params)   # every collection: a
                                                                  # group may span batch_stats
  def one(*alives):
    m = ones
    for g, a in zip(groups, alives):
      m = zero_units(m, g, a)
    return m["params"]
  return jax.vmap(jax.vmap(one))(*[jnp.asarray(a) for a in alive])


def uniform_masks(prog, params, widths):
  """The mask keeping the first `widths[i]` units of every hidden layer's group, for
  (F, S, ...) `params` (every model the same)."""
  m = jax.tree.map(lambda a: jnp.ones_like(a[0, 0]), params)
  for g, w in zip(prog.groups, widths):
    m = zero_units(m, g, jnp.arange(g.size(m)) < w)
  return jax.tree.map(lambda a, p: jnp.broadcast_to(a, p.shape), m["params"],
                      params["params"])


def train_masked(cfg, prep, wd, prog, variables: list, mask_list: list, epochs: int,
                 name: str):
  """Trains V (F, S, ...) variable trees of `prog.model` (the study's classifier), each held
  to its mask, `epochs` epochs side by side (the variants along the seed axis: one vmapped
  program, or the loop layout's model after model), checkpointed under checkpoints/`name`
  (`name`-<first>-<last variant> when the variants are trained in parts: as many at once
  as --regime_side_by_side, or by default as half the free memory holds by
  `eegjax.train.memory`'s estimate); returns (the V trained trees, unmasked
  with the pruned entries zero, and the cost: epochs, models, seconds of compiling and
  training over every part, this process's)."""
  v, s = len(variables), len(prep.seeds)
  cat = lambda trees: jax.tree.map(lambda *a: jnp.concatenate(a, axis=1), *trees)  # noqa
  train_cfg = dataclasses.replace(cfg.classify.train, epochs=epochs)
  model = Masked(prog.model)
  per_run = _variants_that_fit(cfg, prep, model, train_cfg, v)
  out, seconds = [], 0.0
  for i in range(0, v, per_run):
    part = range(i, min(v, i + per_run))
    start = masked_variables(cat([variables[j] for j in part]),
                             cat([mask_list[j] for j in part]))
    tiled = dataclasses.replace(prep, seeds=[int(x) for x in prep.seeds] * len(part))
    # a part is named by its variants, so a rerun that splits them otherwise (memory
    # differs) never resumes a part from another part's checkpoint
    part_name = name if per_run >= v else f"{name}-{part[0]}-{part[-1]}"
    _, fit, ckpt = classifier.train(cfg.classify, tiled, wd, model=model,
                                    train_cfg=train_cfg, name=part_name,
                                    init=lambda tr, start=start: tr.start_from(start))
    ckpt.close()
    seconds += fit.compile_s + fit.run_s
    trained = jax.tree.map(np.asarray, unmasked(fit.params))
    out += [jax.tree.map(lambda a, k=k: a[:, k * s:(k + 1) * s], trained)
            for k in range(len(part))]
  # side_by_side: the variants per vmapped program, which sets its float rounding (a rerun
  # that splits them otherwise can differ there, amplified by training)
  return out, {"epochs": epochs, "variants": v, "models": v * len(prep.parts) * s,
               "side_by_side": per_run, "train_s": seconds}


def _variants_that_fit(cfg, prep, model, train_cfg, v: int) -> int:
  """How many of `v` variants train side by side: --regime_side_by_side where it is given
  (a number fixes the programs' float rounding whatever else the machine runs; refused in
  one line naming the flag when the memory estimate says that many do not fit), else as
  many as half the free memory holds by the memory estimate (halving from all of them; at
  least one, which `classifier.train` refuses in one line if it does not fit either).
  Half: the free memory moves while the parts train one after another, and other work may
  be running."""
  from eegjax.train import memory
  from eegjax.train.fit import default_layout
  models = len(prep.parts) * len(prep.seeds)
  in_flight = None if default_layout(model) == "vmap" else 1

  def need(n):
    return memory.check_sweep(model, prep.data, models * n, train_cfg.batch_size,
                              train_cfg.eval_batch_size, in_flight=in_flight)
  fixed = getattr(cfg, "regime_side_by_side", 0)
  if fixed:
    n = min(v, fixed)
    want, have = need(n)
    if not memory.fits(want, have):
      raise ConfigError(
          f"--regime_side_by_side={fixed}: {n} variants x {models} models side by side "
          f"need {memory.describe(want, have)}; expected fewer variants side by side "
          "(0 chooses by the free memory)")
    return n
  n = v
  while n > 1:
    want, have = need(n)
    if memory.fits(2 * want, have):
      break
    n = (n + 1) // 2
  return n


def fresh_init(cfg, prep):
  """(F, S, ...) variables of the study's classifier from an initialisation independent of
  its trained networks' (`FRESH_INIT`), one per (fold, seed) model."""
  tr = Trainer(prep.model, cfg.classify.train, has_val=False, init_tag=FRESH_INIT)
  return jax.tree.map(np.asarray, tr.init(prep.seeds, prep.folds, prep.data).params)


def restore_at(ckpt_dir: str, n: int):
  """(params, alive) of a pruning variant's checkpoint at `n` pruned units."""
  ckpt = Checkpoints(ckpt_dir, keep=None)
  params, alive, _ = sweep.restore_size(ckpt, n)
  ckpt.close()
  return params, np.asarray(alive)


def run(cfg, prep, wd, prog, per_variant: dict, ckpt_dirs: dict) -> dict:
  """Every regime's networks at every level (module docstring). Returns {levels, rows}:
  rows {regime: {variant or architecture name: [row per level]}}, each row as the
  sweep's (summary, per_model, predicted) plus regime, level, widths and cost."""
  lv, costs = levels(cfg, prep)
  rows, timing = {r: {} for r in cfg.regimes}, {}
  for name, o in per_variant.items():
    by_n = {r["units_pruned"]: r for r in o["rows"]}
    rows["oneshot"][name] = [{**by_n[x["units_pruned"]], "regime": "oneshot",
                              "level": x["percent"], "macs": x["macs"],
                              "params": x["params"]}
                             for x in lv if x["units_pruned"] in by_n]
  if "finetune" in cfg.regimes:
    todo = [(name, x) for name in per_variant for x in lv
            if any(r["units_pruned"] == x["units_pruned"] for r in per_variant[name]["rows"])]
    params, alive = zip(*[restore_at(ckpt_dirs[name], x["units_pruned"]) for name, x in todo])
    ms = [masks([prog.group], p, [a]) for p, a in zip(params, alive)]
    wd.log(f"finetune: {len(todo)} pruned variants x {len(prep.parts) * len(prep.seeds)} "
           f"models, {cfg.regime_epochs} epochs, side by side")
    tuned, timing["finetune"] = train_masked(cfg, prep, wd, prog, list(params), ms,
                                             cfg.regime_epochs, "regime-finetune")
    for (name, x), p in zip(todo, tuned):
      rows["finetune"].setdefault(name, []).append(
          regime_row(prog, prep, p, "finetune", x, cfg.regime_epochs))
  arch = [("scratch", x, x["widths"]) for x in lv] if "scratch" in cfg.regimes else []
  arch += [("uniform", x, x["uniform_widths"]) for x in lv if "uniform" in cfg.regimes
           and ("scratch" not in cfg.regimes or x["uniform_widths"] != x["widths"])]
  if arch:
    init = fresh_init(cfg, prep)
    ms = [uniform_masks(prog, init, w) for _, _, w in arch]
    wd.log(f"from scratch: {len(arch)} architectures x "
           f"{len(prep.parts) * len(prep.seeds)} models, {cfg.classify.train.epochs} epochs")
    nets, timing["scratch"] = train_masked(cfg, prep, wd, prog, [init] * len(arch), ms,
                                           cfg.classify.train.epochs, "regime-scratch")
    for (regime, x, widths), p in zip(arch, nets):
      row = regime_row(prog, prep, p, regime, x, cfg.classify.train.epochs)
      row["widths"] = list(widths)
      if regime == "uniform":
        row.update(macs=x["uniform_macs"], params=x["uniform_params"])
      rows[regime].setdefault(regime, []).append(row)
  if "uniform" in cfg.regimes and "scratch" in cfg.regimes:
    for x in lv:
      if x["uniform_widths"] == x["widths"]:
        same = next(r for r in rows["scratch"]["scratch"] if r["level"] == x["percent"])
        rows["uniform"].setdefault("uniform", []).append(
            {**same, "regime": "uniform", "same_as": "scratch (the uniform widths are the "
             "pruned architecture's)"})
  return {"levels": lv, "costs": costs, "rows": rows, "level_unit": "% MACs",
          "training": timing}


def tested_row(prog, prep, params, before=None, after=None) -> dict:
  """Every (fold, seed) model of `params` on its test part: the summaries over models of
  the metrics (between the `before` and `after` per-model values, e.g. the layer's pairs
  and min angle), each model's figures for the paired tests (`per_model`) and each test
  row's predicted class (`predicted`, (folds, seeds, rows)). On one given split the
  accuracy's interval also resamples the test rows (`ci95_seeds_x_rows`)."""
  test = prog.trainer.evaluate(params, prep.folds, prep.data, "test", predictions=True)
  values = {**(before or {}), **{k: test[k] for k in SCALARS}, **(after or {})}
  row = {"summary": {k: summarize_metric(k, v) for k, v in values.items()},
         # each (fold, seed) model's figures: the paired comparisons
         "per_model": {k: test[k] for k in prune_tables.PAIRED_METRICS},
         "predicted": np.asarray(test["predicted"])}
  if len(prep.parts) == 1:    # one given split: the interval includes the test rows' sampling
    labels = np.where(np.asarray(prep.folds.test_w),
                      np.asarray(prep.ds.y)[np.asarray(prep.folds.test_idx)], -1)
    correct = (row["predicted"][0] == labels[0][None, :]).astype(np.float64)
    row["summary"]["accuracy"]["ci95_seeds_x_rows"] = stats.bootstrap_interval(
        correct, labels[0] >= 0)
  return row


def regime_row(prog, prep, params, regime: str, x: dict, epochs: int) -> dict:
  """A regime's row at level `x`: its cost, training epochs and test figures."""
  return {"regime": regime, "level": x["percent"], "units_pruned": x["units_pruned"],
          "macs": x["macs"], "params": x["params"], "epochs": epochs,
          **tested_row(prog, prep, params)}
