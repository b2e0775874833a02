import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax.errors import ConfigError
from eegjax.models import MLP, mlp_from_params
from eegjax.pruning.distinctiveness import angles_from_gram, choose_pair, gram
from eegjax.pruning.progressive import (MERGED, MERGED_COMPLEMENT, REMOVED,
                                        REMOVED_COMPLEMENTARY, PruneConfig, describe,
                                        prune_step)
from eegjax.pruning.surgery import mlp_hidden_group


def planted(duplicate=True, complement=True, hidden=8):
  """An MLP whose unit 5 duplicates unit 1 and unit 6 computes -(unit 2's input)."""
  model = MLP(hidden_sizes=(hidden,), num_classes=3)
  x = jax.random.uniform(jax.random.key(1), (200, 4))
  params = model.init(jax.random.key(0), x)
  d0 = params["params"]["Dense_0"]
  for dst, src, sign, on in ((5, 1, 1.0, duplicate), (6, 2, -1.0, complement)):
    if on:
      d0["kernel"] = d0["kernel"].at[:, dst].set(sign * d0["kernel"][:, src])
      d0["bias"] = d0["bias"].at[dst].set(sign * d0["bias"][src])
  acts = model.apply(params, x, return_activations=True)[1][0]
  return model, params, x, gram(acts)


def test_choose_pair_ranks_by_candidate_partners():
  ang = jnp.array([[0, 10, 12, 80], [10, 0, 50, 80], [12, 50, 0, 80], [80, 80, 80, 0.]])
  k, d, angle, within = choose_pair(ang, jnp.ones(4, bool))
  assert (int(k), int(d), float(angle), bool(within)) == (0, 1, 10.0, True)  # unit 0: 2 partners
  k, d, angle, within = choose_pair(ang, jnp.array([True, False, False, True]))
  assert not within and {int(k), int(d)} == {0, 3}                          # fallback


def test_scaled_rule_merges_planted_pairs_exactly():
  model, params, x, g = planted()
  cfg = PruneConfig("distinctiveness", rule="scaled", step=2)
  new, ids, _, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                     mlp_hidden_group(0), cfg)
  assert bool(within) and ids.shape == (6,)
  assert sorted(zip(rec["kept"].tolist(), rec["removed"].tolist())) in (
      [(1, 5), (2, 6)], [(1, 5), (6, 2)], [(5, 1), (2, 6)], [(5, 1), (6, 2)])
  assert set(rec["kind"].tolist()) == {MERGED, MERGED_COMPLEMENT}
  chex.assert_trees_all_close(mlp_from_params(new).apply(new, x), model.apply(params, x),
                              atol=1e-5)


def test_paper_rule_removes_complementary_pair_whole():
  model, params, x, g = planted(duplicate=False)
  cfg = PruneConfig("distinctiveness", rule="paper", step=2)
  new, ids, _, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                     mlp_hidden_group(0), cfg)
  assert rec["kind"].tolist() == [REMOVED_COMPLEMENTARY, REMOVED_COMPLEMENTARY]
  assert sorted(rec["removed"].tolist()) == [2, 6] and bool(within)
  assert ids.tolist() == [0, 1, 3, 4, 5, 7]
  assert describe(jax.tree.map(np.asarray, rec))[0].endswith("~")


def test_paper_rule_merges_duplicates_exactly():
  model, params, x, g = planted(complement=False)
  cfg = PruneConfig("distinctiveness", rule="paper", step=1)
  new, ids, _, rec, _ = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                mlp_hidden_group(0), cfg)
  assert rec["kind"].tolist() == [MERGED]
  assert describe(jax.tree.map(np.asarray, rec)) in (["(1->5)"], ["(5->1)"])
  chex.assert_trees_all_close(mlp_from_params(new).apply(new, x), model.apply(params, x),
                              atol=1e-5)


def test_baselines_remove_without_transfer():
  model, params, x, g = planted()
  group = mlp_hidden_group(0)
  params["params"]["Dense_1"]["kernel"] = params["params"]["Dense_1"]["kernel"].at[3].mul(1e-3)
  _, ids, _, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0), group,
                                   PruneConfig("magnitude", step=1))
  assert rec["removed"].tolist() == [3] and rec["kind"].tolist() == [REMOVED]
  _, ids, _, rec, _ = prune_step(params, jnp.arange(8), g, jax.random.key(4), group,
                              PruneConfig("random", step=3))
  assert len(set(rec["removed"].tolist())) == 3 and ids.shape == (5,)


def test_vmapped_pruning_equals_per_model():
  _, p0, x, g0 = planted(hidden=8)
  model = MLP(hidden_sizes=(8,), num_classes=3)
  p1 = model.init(jax.random.key(9), x)
  g1 = gram(model.apply(p1, x, return_activations=True)[1][0])
  stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), p0, p1)
  grams, ids = jnp.stack([g0, g1]), jnp.tile(jnp.arange(8), (2, 1))
  keys = jax.random.split(jax.random.key(0), 2)
  group = mlp_hidden_group(0)
  for crit in ("distinctiveness", "magnitude", "random"):
    cfg = PruneConfig(crit, rule="scaled", step=2)
    fn = lambda p, i, g, k: prune_step(p, i, g, k, group, cfg)  # noqa: E731
    batched = jax.vmap(fn)(stacked, ids, grams, keys)
    for m, (p, g) in enumerate(((p0, g0), (p1, g1))):
      alone = fn(p, jnp.arange(8), g, keys[m])
      chex.assert_trees_all_close(jax.tree.map(lambda a: a[m], batched), alone, atol=1e-6)


def test_config_errors():
  with pytest.raises(ConfigError, match="--prune_step=0"):
    PruneConfig(step=0)
  with pytest.raises(ConfigError, match="--merge_rule='avg'"):
    PruneConfig(rule="avg")
  with pytest.raises(ConfigError, match="0 < similar_deg < complementary_deg < 180"):
    PruneConfig(similar_deg=30, complementary_deg=20)
  _, params, _, g = planted()
  with pytest.raises(ConfigError, match="cannot prune 8 units from a layer of 8"):
    prune_step(params, jnp.arange(8), g, jax.random.key(0), mlp_hidden_group(0),
               PruneConfig(step=8))


def test_angles_see_the_planted_pairs():
  _, _, _, g = planted()
  ang = angles_from_gram(g)
  assert float(ang[1, 5]) < 1.0 and float(ang[2, 6]) > 179.0


def test_gentle_order_takes_the_unit_with_fewest_partners_first():
  ang = jnp.array([[0, 10, 12, 80], [10, 0, 50, 80], [12, 50, 0, 80], [80, 80, 80, 0.]])
  k, d, _, _ = choose_pair(ang, jnp.ones(4, bool), order="gentle")
  assert int(k) in (1, 2) and int(d) == 0            # units 1, 2 have one partner each


def test_masked_variant_zeroes_and_keeps_size_and_equals_plain_removal():
  from eegjax.pruning.surgery import remove_units
  model, params, x, g = planted()
  group = mlp_hidden_group(0)
  cfg = PruneConfig("distinctiveness_masked", step=2)
  masked, ids, alive, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                               group, cfg)
  assert ids.shape == (8,) and int(alive.sum()) == 6 and rec["kind"].tolist() == [REMOVED] * 2
  dead = np.flatnonzero(~np.asarray(alive))
  assert sorted(rec["removed"].tolist()) == dead.tolist()
  np.testing.assert_array_equal(masked["params"]["Dense_0"]["kernel"][:, dead], 0.0)
  np.testing.assert_array_equal(masked["params"]["Dense_1"]["kernel"][dead], 0.0)
  cut = remove_units(params, group, jnp.flatnonzero(alive))
  chex.assert_trees_all_close(model.apply(masked, x), mlp_from_params(cut).apply(cut, x),
                              atol=1e-6)
  # a second step continues from the dead units and keeps them dead
  again = prune_step(masked, ids, g, jax.random.key(0), group, cfg, alive=alive)
  assert int(again[2].sum()) == 4 and not np.asarray(again[2])[dead].any()


def test_rnn_pruning_vmapped_equals_per_model():
  from eegjax.models import ElmanRNN
  from eegjax.pruning.distinctiveness import trajectory_gram
  from eegjax.pruning.surgery import rnn_hidden_group
  model = ElmanRNN(hidden_size=6, num_classes=2)
  x = jax.random.normal(jax.random.key(0), (5, 50, 1))
  lengths = jnp.array([50, 20, 35, 50, 10])
  ps = [model.init(jax.random.key(s), x) for s in (1, 2)]
  grams = [trajectory_gram(lambda xb, lb, p=p: model.apply(p, xb, lengths=lb,
                                                          return_trajectory=True)[1],
                           x, lengths) for p in ps]
  stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), *ps)
  keys = jax.random.split(jax.random.key(3), 2)
  for crit in ("distinctiveness", "distinctiveness_masked", "random"):
    cfg = PruneConfig(crit, rule="scaled", step=2, similar_deg=60, complementary_deg=120)
    fn = lambda p, g, k: prune_step(p, jnp.arange(6), g, k, rnn_hidden_group(), cfg)  # noqa
    batched = jax.vmap(fn)(stacked, jnp.stack(grams), keys)
    for m in range(2):
      chex.assert_trees_all_close(jax.tree.map(lambda a: a[m], batched),
                                  fn(ps[m], grams[m], keys[m]), atol=1e-6)
