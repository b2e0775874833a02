"""The GAN study's conv-channel pruning: each listed discriminator conv layer's output
channels, found by discovery, pruned through the one pruning loop (`sweep.run`) by
every --conv_criteria from the best discriminators, and the table of the results."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.errors import ConfigError
from eegjax.evaluate import prune_tables
from eegjax.evaluate.metrics import SCALARS
from eegjax.evaluate.summary import summarize, summarize_metric
from eegjax.models import count_params
from eegjax.models.gan import IMAGE_SHAPE, Discriminator, discriminator_features
from eegjax.pruning import discover_groups
from eegjax.pruning.distinctiveness import angles_from_gram, map_gram, min_angle, pair_mask
from eegjax.pruning import sweep
from eegjax.studies.common import pruned_layer
from eegjax.studies.common.classifier import Prepared
from eegjax.run.workdir import Workdir
from eegjax.run.checkpoints import Checkpoints
from eegjax.train.gan_fit import GanTrainer

_RANDOM_TAG = 100     # random channel pruning of conv layer k: fold_in(model key, 100 + k)


# conv-channel criteria and compensations: the channels' Gram matrices are all this
# module computes
CONV_CRITERIA = ("distinctiveness", "weight_angle", "magnitude", "random")
CONV_COMPENSATIONS = ("merge", "none")


def check_config(cfg) -> None:
  """Refuses a GanStudyConfig's conv-pruning settings that cannot run, naming the flag."""
  for layer in cfg.prune_conv_layers:
    if not 0 <= layer < len(cfg.d_features):
      raise ConfigError(f"--prune_conv_layers: layer {layer} does not exist; the "
                        f"discriminator has conv layers 0..{len(cfg.d_features) - 1}")
  if not cfg.conv_criteria:
    raise ConfigError("--conv_criteria is empty; expected some of "
                      f"{', '.join(CONV_CRITERIA)}")
  if cfg.conv_compensation not in CONV_COMPENSATIONS:
    raise ConfigError(f"--conv_compensation={cfg.conv_compensation!r}: expected one of "
                      f"{', '.join(CONV_COMPENSATIONS)} (the conv channels' analysis is "
                      "their Gram matrix alone)")
  for crit in cfg.conv_criteria:
    dataclasses.replace(cfg.prune, criterion=crit)      # a known criterion
    if crit not in CONV_CRITERIA:
      raise ConfigError(f"--conv_criteria: {crit} is not offered for conv channels; "
                        f"expected some of {', '.join(CONV_CRITERIA)}")


def prune_discriminator(cfg, prep: Prepared, wd: Workdir, variant: str,
                        trainer: GanTrainer, best_d):
  """Every --conv_criteria from the best discriminators (see `prune_channels`), so the
  table compares criteria at equal size. Returns the rows of all of them, each criterion's
  carrying its paired difference from distinctiveness (`paired_rows`)."""
  rows = []
  for criterion in cfg.conv_criteria:
    rows += prune_channels(cfg, prep, wd, variant, trainer, best_d, criterion)[0]
  return paired_rows(rows, protocol(prep))


def protocol(prep: Prepared) -> dict:
  """The paired tests' protocol (`prune_tables.protocol_of`) of the GAN study's folds."""
  return prune_tables.protocol_of(prep.parts, prep.ds.y, prep.folds.test_idx, prep.folds.test_w)


def test_train_ratio(prep: Prepared) -> float:
  return protocol(prep)["test_train_ratio"]


def paired_rows(rows: list, protocol: dict) -> list:
  """The rows, each (but distinctiveness's) with `minus_distinctiveness`: per conv layer
  and size both reached, each model's figures under the criterion minus its figures under
  distinctiveness (the same trained discriminator, fold and seed; layer 2's networks
  carry each criterion's own layer-1 pruning), by the test that fits the protocol
  (`prune_tables.paired_differences`: its rows keep no per-row predictions, so several folds
  take the corrected repeated-CV t-test and one split gives no p). Rows of a run without
  distinctiveness are unchanged."""
  out = []
  for layer in dict.fromkeys(r["layer"] for r in rows):
    per_criterion: dict = {}
    for r in rows:
      if r["layer"] == layer:
        per_criterion.setdefault(r["criterion"], {"rows": []})["rows"].append(r)
    paired = prune_tables.paired_differences(per_criterion, protocol)
    lookup = {(c, d["units_pruned"]): d for c, ds in paired.items() for d in ds}
    for crit, o in per_criterion.items():
      for r in o["rows"]:
        d = lookup.get((crit, r["units_pruned"]))
        out.append(r if d is None else {**r, "minus_distinctiveness": {
            k: v for k, v in d.items() if k != "units_pruned"}})
  return out


def channel_group(d_model, params, layer: int):
  """The output channels of discriminator conv layer `layer`, found by discovery."""
  groups = [g for g in discover_groups(d_model.apply, params, jnp.zeros((1, *IMAGE_SHAPE)))
            if g.prunable]
  if not 0 <= layer < len(groups):
    raise ConfigError(f"--prune_conv_layers: layer {layer} does not exist; the "
                      f"discriminator has conv layers 0..{len(groups) - 1}")
  return groups[layer]


def _discriminator(cfg, prep: Prepared, params):
  """The discriminator of the stacked `params` (its conv widths read from them), and those
  widths."""
  features = discriminator_features(jax.tree.map(lambda a: a[0, 0], params))
  return Discriminator(prep.ds.num_classes, features, cfg.gan.semi_supervised,
                       pool=cfg.d_pool, minibatch=cfg.d_minibatch, hidden=cfg.d_hidden), features


def _layer_family(cfg, prep: Prepared, wd: Workdir, variant: str, trainer: GanTrainer,
                  d_params, criterion: str, pcfg, layer: int) -> sweep.Family:
  """What the pruning loop needs of discriminator conv layer `layer`: its channel group
  (found by discovery), the channels' Gram matrices over the training images x positions
  (a channel's activation vector is its feature map), the measurement of every evaluated
  size (test figures, pairs within the thresholds, minimum angle, each model's figures for
  the paired comparisons) and the random criterion's keys.

  Long: the measurement's row is one dict of every figure the table reports."""
  data, folds = (prep.data[0], prep.data[1]), prep.folds
  d_model, _ = _discriminator(cfg, prep, d_params)
  group = channel_group(d_model, jax.tree.map(lambda a: a[0, 0], d_params), layer)

  def grams_of(params, n):
    model, _ = _discriminator(cfg, prep, params)

    def gram_one(dp, fa):
      xb, _ = trainer.images(data, fa.train_idx, fa)
      maps = model.apply(dp, xb, return_activations=True)[1][layer]
      return map_gram(maps, fa.train_w.astype(jnp.float32), centre=group.centre)
    return trainer.map_models(gram_one, params, folds)

  def measure(params, alive, n):
    # params stay at the trained width, the pruned channels zeroed (sweep)
    model, _ = _discriminator(cfg, prep, params)
    width = int(np.asarray(alive)[0, 0].sum())
    grams = grams_of(params, n)
    ang = jax.vmap(jax.vmap(angles_from_gram))(grams)
    within = (jax.vmap(jax.vmap(pair_mask))(alive)
              & ((ang < pcfg.similar_deg) | (ang > pcfg.complementary_deg)))
    test = trainer.classify(params, folds, data, "test", model)
    first = jax.tree.map(lambda a: a[:1, :1], params)
    row = {"variant": variant, "criterion": criterion,
           "compensation": pcfg.compensation, "layer": layer, "units_pruned": n,
           "channels": width,
           "params": count_params(jax.tree.map(lambda a: a[0, 0], sweep.cut(
               first, np.asarray(alive)[:1, :1], group))),
           "summary": {**{k: summarize_metric(k, test[k]) for k in SCALARS},
                       "pairs": summarize(np.asarray(within.sum((-1, -2)) // 2)),
                       "min_angle": summarize(np.asarray(
                           jax.vmap(jax.vmap(min_angle))(ang, alive)))},
           # each (fold, seed) model's figures: the paired comparisons of criteria
           "per_model": {k: np.asarray(test[k]) for k in prune_tables.PAIRED_METRICS}}
    s = row["summary"]
    wd.log(f"{variant} D conv {layer} {criterion}: {n:3d} pruned, {width:3d} channels  "
           f"accuracy {s['accuracy']['mean']:.4f}  min angle {s['min_angle']['mean']:.1f}"
           f"  pairs {s['pairs']['mean']:.1f}")
    return row, grams, params

  def keys(n):
    # random criterion: from fold_in(key(seed), fold), its own draw for every layer
    return pruned_layer.random_keys(prep.seeds, prep.folds.fold_id, n,
                                    tag=_RANDOM_TAG + layer)
  return sweep.Family(group, measure, grams_of, keys, log=wd.log)


def prune_channels(cfg, prep: Prepared, wd: Workdir, variant: str,
                   trainer: GanTrainer, d_params, criterion: str = "distinctiveness"):
  """Prunes the listed conv layers of every best discriminator by `criterion`, one layer
  after another, `--prune_step` channels a step, through the one pruning loop
  (`sweep.run`, each layer's family from `_layer_family`); distinctiveness until no pair of
  a layer's channels is within the thresholds (magnitude and random: up to max_pruned, or
  one channel left). With beyond_thresholds it goes on with the least distinct pairs, up
  to max_pruned channels a layer. Every evaluated size is checkpointed
  (checkpoints/<variant>/pruned/<criterion>/layer_k). Returns the table rows and the
  final params."""
  pcfg = dataclasses.replace(cfg.prune, criterion=criterion,
                             compensation=cfg.conv_compensation)
  rows = []
  for layer in cfg.prune_conv_layers:
    family = _layer_family(cfg, prep, wd, variant, trainer, d_params, criterion, pcfg, layer)
    width = _discriminator(cfg, prep, d_params)[1][layer]
    ckpt = Checkpoints(wd.file(os.path.join("checkpoints", variant, "pruned", criterion,
                                            f"layer_{layer}")), keep=None, log=wd.log)
    out = sweep.run(family, pcfg, d_params, width, pcfg.limit(width), pcfg.beyond_thresholds,
                    ckpt, f"{variant} D conv {layer} {criterion}")
    ckpt.close()
    for row, act in zip(out["rows"], out["actions"]):
      row["next_actions"] = act["actions"][0][0]
    rows += out["rows"]
    d_params = out["params"]
  return rows, d_params


def prune_table(rows: list) -> tuple[list, list]:
  """gan_prune_table.csv's (header, rows): one row per variant, criterion, layer and size."""
  header = ["variant", "criterion", "layer", "units_pruned", "channels",
            "discriminator_params"]
  metrics = ("pairs", "accuracy", "precision", "recall", "f1", "min_angle")
  for m in metrics:
    header += [f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]
  header += [f"accuracy_minus_{prune_tables.REFERENCE}_{k}" for k in ("mean", "ci_low", "ci_high",
                                                                 "p")]
  table = []
  for r in rows:
    line = [r["variant"], r["criterion"], r["layer"], r["units_pruned"], r["channels"],
            r["params"]]
    for m in metrics:
      s = r["summary"][m]
      line += [s["mean"], s["ci95"][0], s["ci95"][1]]
    d = r.get("minus_distinctiveness", {}).get("accuracy")
    line += ["", "", "", ""] if d is None else [d["mean"], *d["ci95"], d["p"]]
    table.append(line)
  return header, table
