"""The engine on the EEG conv networks: every group discovered (EEGNet's temporal filters
spanning their depthwise and separable channels, its per-group depthwise filters, Deep4's
and ShallowConvNet's conv blocks), copy -> merge -> remove exact with BatchNorm's
statistics cut with their channels, the grouped convolutions re-bound at the pruned
sizes, and each pruned network equal to a hand-built smaller one."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax import pruning
from eegjax.models.eegconv import EEGNet, Deep4, ShallowConvNet
from eegjax.pruning import copy_unit, discover_groups, merge_into, remove_units

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric

KEY = jax.random.key(0)
MODELS = {
    "eegnet": (EEGNet(num_classes=2, f1=4, d=2, kernel_length=8, separable_length=4,
                      pool_1=2, pool_2=2, channels_last=True),
               {"conv_time": 4, "depthwise.per_group": 2, "separable_pointwise": 8}),
    "shallow": (ShallowConvNet(num_classes=2, n_filters_time=5, filter_time_length=4,
                               n_filters_spat=6, pool_time_length=6, pool_time_stride=3,
                               channels_last=True),
                {"conv_time": 5, "conv_spat": 6}),
    "deep4": (Deep4(num_classes=2, n_filters=(4, 5, 6, 7), filter_length=2, pool_length=2,
                    channels_last=True),
              {"conv_time": 4, "conv_spat": 4, "conv_1": 5, "conv_2": 6, "conv_3": 7}),
}


def setup(name):
  model, expected = MODELS[name]
  x = jax.random.normal(KEY, (5, 40, 3))
  variables = model.init(jax.random.key(1), x)
  # running statistics away from (0, 1), so cutting them wrongly shows
  stats = jax.tree.map(lambda a: a + 0.5 * jax.random.uniform(KEY, a.shape),
                       variables["batch_stats"])
  return model, {**variables, "batch_stats": stats}, x, expected


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_filter_group_prunes_exactly(name):
  model, params, x, expected = setup(name)
  groups = discover_groups(model.apply, params, x)
  prunable = {g.name: g for g in groups if g.prunable}
  assert {n: g.size(params) for n, g in prunable.items()} == expected
  run = jax.jit(pruning.resized_apply(model.apply, params, x[:1]))
  for i, g in enumerate(prunable.values()):
    assert g.activation is not None, g.name
    n = g.size(params)
    twin = copy_unit(params, g, 0, n - 1)
    before = model.apply(twin, x)
    small = remove_units(merge_into(twin, g, n - 1, 0, 1.0), g, jnp.arange(n - 1))
    assert g.size(small) == n - 1
    chex.assert_trees_all_close(run(small, x), before, atol=1e-5)
    if i == 0:   # the merge is not vacuous: without the copy the function changes
      other = remove_units(merge_into(params, g, n - 1, 0, 1.0), g, jnp.arange(n - 1))
      assert not np.allclose(run(other, x), model.apply(params, x), atol=1e-4), g.name


def _cut(tree, keep_by_path):
  return jax.tree_util.tree_map_with_path(
      lambda p, a: keep_by_path(tuple(str(getattr(k, "key", k)) for k in p), a), tree)


def _check_cut(model, params, x, small, hand, keep_t, keep_c):
  """`small` is EEGNet's params with temporal filters `keep_t` and depthwise channels
  `keep_c` kept (their BatchNorm statistics, separable channels and pointwise rows with
  them), and runs as the hand-built smaller network `hand` does."""
  def keep(path, a):
    if path[1] == "conv_time":
      return a[..., keep_t]
    if path[1] == "bn_0":
      return a[keep_t]
    if path[1] in ("depthwise", "separable_depthwise"):
      return a[..., keep_c]
    if path[1] == "bn_1":
      return a[keep_c]
    if path[1] == "separable_pointwise":
      return a[:, :, keep_c, :]
    return a
  expected = _cut(params, keep)
  chex.assert_trees_all_close(small, expected)
  run = pruning.resized_apply(model.apply, params, x[:1])
  chex.assert_trees_all_close(run(small, x), hand.apply(expected, x), atol=1e-5)


def test_pruned_eegnet_equals_a_hand_built_smaller_eegnet():
  """Temporal filter 1 removed: its D depthwise filters, their separable channels, their
  BatchNorm statistics and the pointwise rows go with it; groups drop from 4 to 3."""
  model, params, x, _ = setup("eegnet")
  g = {g.name: g for g in discover_groups(model.apply, params, x)}["conv_time"]
  keep_t = np.array([0, 2, 3])
  keep_c = np.array([c for c in range(8) if c // 2 != 1])       # channels t * D + d
  small = remove_units(params, g, jnp.asarray(keep_t))
  hand = EEGNet(num_classes=2, f1=3, d=2, f2=8, kernel_length=8, separable_length=4,
                pool_1=2, pool_2=2, channels_last=True)

  _check_cut(model, params, x, small, hand, keep_t, keep_c)


def test_pruned_eegnet_per_group_filter_equals_eegnet_with_d_one():
  model, params, x, _ = setup("eegnet")
  g = {g.name: g for g in discover_groups(model.apply, params, x)}["depthwise.per_group"]
  small = remove_units(params, g, jnp.asarray([1]))        # keep the second of each pair
  keep_c = np.arange(1, 8, 2)
  hand = EEGNet(num_classes=2, f1=4, d=1, f2=8, kernel_length=8, separable_length=4,
                pool_1=2, pool_2=2, channels_last=True)

  _check_cut(model, params, x, small, hand, np.arange(4), keep_c)


def test_prune_scores_grouped_units_on_all_their_channels():
  """Distinctiveness on EEGNet's temporal filters: the activation of a filter is its D
  channels together, so a copied filter is found at 0 degrees and merged away."""
  model, params, x, _ = setup("eegnet")
  g = {g.name: g for g in discover_groups(model.apply, params, x)}["conv_time"]
  twin = copy_unit(params, g, 0, 3)
  stats = pruning.activations(model.apply, twin, [g], x)[g.name]
  assert stats.gram.shape == (4, 4)
  # rows: 5 patterns x D=2 channels x 20 time positions (40 samples, pooled by 2)
  assert float(stats.count) == 5 * 2 * 20
  small, record = pruning.prune(model.apply, twin, x, groups=["conv_time"],
                                criterion="distinctiveness", compensation="merge", step=1,
                                max_pruned=1)
  step = record["conv_time"]["steps"][0]
  assert step["min_angle_before"] < 1e-2 and g.size(small) == 3
  run = pruning.resized_apply(model.apply, params, x[:1])
  chex.assert_trees_all_close(run(small, x), model.apply(twin, x), atol=1e-4)


def test_multiply_adds_of_a_small_shallow_net_counted_by_hand():
  from eegjax.evaluate.cost import count_trainable, multiply_adds
  model, params, x, _ = setup("shallow")        # 3 electrodes x 40 samples
  t1 = 40 - 4 + 1                                # temporal conv output length
  pooled = (t1 - 6) // 3 + 1
  by_hand = (3 * t1 * 5 * 4                      # conv_time: 4 taps, 1 input feature
             + t1 * 6 * (3 * 5)                  # conv_spat: 3 electrodes x 5 filters
             + 2 * (pooled * 6))                 # classifier conv over the pooled time
  assert multiply_adds(model.apply, params, x[:1]) == by_hand
  assert multiply_adds(model.apply, params, x) == 5 * by_hand
  assert count_trainable(params) == (4 * 5 + 5) + 3 * 5 * 6 + 2 * 6 + pooled * 6 * 2 + 2


@pytest.mark.slow      # ~40 s: the engine's exactness and the costs are tested above
def test_prune_cnn_main_prunes_every_group_at_equal_sizes_and_resumes(binary, tmp_path):
  import json
  from absl.testing import flagsaver
  rng = np.random.default_rng(0)
  n = 40
  y = np.arange(n) % 2
  x = rng.normal(size=(n, 40, 3)).astype(np.float32)
  x[:, :, 0] += np.where(y[:, None] == 1, 1.0, -1.0) * np.sin(np.arange(40) / 3.0)
  np.savez(tmp_path / "trials.npz", x=x, y=y, sampling_rate=32.0, real=False)
  mod = binary("prune_cnn")
  wd = tmp_path / "run"
  flags_ = dict(data_path=str(tmp_path / "trials.npz"), model="eegnet", epochs=2,
                num_folds=4, split="holdout", num_seeds=2, prune_percent=["50"],
                criteria=["distinctiveness", "random", "taylor"], compensation=["mean"],
                regimes=["oneshot", "finetune", "scratch"], regime_epochs=1,
                workdir=str(wd))
  with flagsaver.flagsaver(**flags_):
    mod.main(["prune_cnn.py"])
  res = json.loads((wd / "results.json").read_text())
  pr = res["pruning"]
  assert pr["groups"] == {"conv_time": 8, "depthwise.per_group": 2,
                          "separable_pointwise": 16}
  assert pr["costs"]["50%"]["units"] == {"conv_time": 4, "depthwise.per_group": 1,
                                         "separable_pointwise": 8}
  assert pr["costs"]["50%"]["params"] < pr["costs"]["unpruned"]["params"]
  assert pr["costs"]["50%"]["macs_per_trial"] < pr["costs"]["unpruned"]["macs_per_trial"]
  assert sorted(pr["variants"]) == sorted(f"{c}/mean/50" for c in ("distinctiveness",
                                                                    "random", "taylor"))
  for label, v in pr["variants"].items():
    assert v["units_kept"]["conv_time"] == [[4, 4]], label    # every model, equal sizes
    assert ("vs_random" in v) == (not label.startswith("random"))
  assert "p_holm" in pr["variants"]["distinctiveness/mean/50"]["vs_random"]
  z = np.load(wd / "predictions.npz")
  assert z["distinctiveness/mean/50"].shape == z["unpruned"].shape
  labels = z["labels"]
  acc = ((z["taylor/mean/50"] == labels[:, None]) & (labels[:, None] >= 0)).sum() / (
      2 * (labels >= 0).sum())
  assert acc == pytest.approx(pr["variants"]["taylor/mean/50"]["accuracy"])
  # the controls: the pruned nets back at full width score as the cut ones; the retrained
  # regimes' predictions are their rows'
  reg = pr["regimes"]
  for name, rows in reg["rows"]["oneshot"].items():
    assert rows[0]["summary"]["accuracy"]["mean"] == pytest.approx(
        pr["variants"][f"{name}/50"]["accuracy"]), name
  for key, row in [(f"finetune/{n}/50", rs[0]) for n, rs in reg["rows"]["finetune"].items()] \
      + [("scratch/50", reg["rows"]["scratch"]["scratch"][0])]:
    real = labels >= 0
    per_model = [[(z[key][f, s][real[f]] == labels[f][real[f]]).mean() for s in range(2)]
                 for f in range(labels.shape[0])]
    np.testing.assert_allclose(per_model, row["per_model"]["accuracy"], atol=1e-6)
  assert len(reg["comparisons"]["primary"]) == len(reg["plan"]["family"]) == 2 + 2 * 2
  assert json.loads((wd / "primary_comparisons.json").read_text()) == reg["plan"]
  assert (wd / "regimes_macs.png").exists() and (wd / "regimes_params.png").exists()
  # an interrupted run (results gone, pruned variants kept) does not prune again
  before = (wd / "pruned" / "random_mean_50.npz").stat().st_mtime_ns
  (wd / "results.json").unlink()
  with flagsaver.flagsaver(**flags_):
    mod.main(["prune_cnn.py"])
  assert (wd / "pruned" / "random_mean_50.npz").stat().st_mtime_ns == before
  again = json.loads((wd / "results.json").read_text())
  assert again["pruning"]["variants"] == pr["variants"]


def test_a_constant_filter_folds_into_the_next_batchnorm_exactly():
  """Deep4's conv_2 has no bias: BatchNorm follows, so a removed conv_1 filter's constant
  contribution goes into bn_2's running mean (subtracted: the shift's sign flips)."""
  from eegjax.pruning.surgery import fold_into_bias
  model, params, x, _ = setup("deep4")
  g = {g.name: g for g in discover_groups(model.apply, params, x)}["conv_1"]
  out = {s.path: s for s in g.outgoing}[("params", "conv_2", "kernel")]
  assert out.bias == (("batch_stats", "bn_2", "mean"), 3, -1.0)
  d = 2
  kernel = params["params"]["conv_1"]["kernel"]
  silent = {**params, "params": {**params["params"], "conv_1": {
      "kernel": kernel.at[..., d].set(0.0)}}}    # filter d: a constant after bn_1 and ELU
  st = pruning.activations(model.apply, silent, [g], x)[g.name]
  value = float(st.total[d] / st.count) + g.centre
  cut = remove_units(fold_into_bias(silent, g, d, value), g,
                     jnp.asarray([u for u in range(5) if u != d]))
  run = pruning.resized_apply(model.apply, params, x[:1])
  chex.assert_trees_all_close(run(cut, x), model.apply(silent, x), atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_pruned_conv_net_back_at_its_trained_width_computes_the_cut_one(name):
  """prune_cnn's controls retrain pruned conv nets at the trained width with the pruned
  filters zero (`controls.expand`, every group cut in turn, undone last first): that
  network computes what the cut one does, in inference mode, and its zeros are exactly
  where the mask of the kept units says."""
  import types
  from eegjax.studies.common import regimes
  from eegjax.studies.prune_cnn import controls
  model, params, x, _ = setup(name)
  groups = [g for g in discover_groups(model.apply, params, x) if g.prunable]
  run = pruning.resized_apply(model.apply, params, x[:1])
  models = types.SimpleNamespace(groups=groups, widths={g.name: g.size(params) for g in groups},
                                 one=lambda f, s: params, n_f=1, n_s=1)
  small, kept = params, {}
  for g in groups:
    k = controls.units_to_prune(models.widths[g.name], 50)
    small, rec = pruning.prune(run, small, x, groups=[g.name], criterion="random",
                               compensation="mean", max_pruned=k, step=1,
                               beyond_thresholds=True, seed=3)
    kept[g.name] = rec[g.name]["kept_units"]
  wide = controls.expand(models, small, kept, 50)
  chex.assert_trees_all_equal_shapes(wide, params)
  chex.assert_trees_all_close(model.apply(wide, x), run(small, x), atol=1e-5)
  keep = {g: np.asarray(v)[None, None] for g, v in kept.items()}
  mask = regimes.masks(groups, jax.tree.map(lambda a: a[None, None], params),
                       controls.alive_of(models, keep))
  for w, m in zip(jax.tree.leaves(wide["params"]), jax.tree.leaves(mask)):
    m = np.asarray(m)[0, 0]
    assert np.all(np.asarray(w)[m == 0] == 0)
