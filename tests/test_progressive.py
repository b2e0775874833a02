import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eegjax.errors import ConfigError
from eegjax.models import MLP, mlp_from_params
from eegjax.pruning.distinctiveness import angles_from_gram, choose_pair, gram
from eegjax.pruning.progressive import (MERGED, MERGED_COMPLEMENT, REMOVED, REMOVED_CONSTANT,
                                        REMOVED_COMPLEMENTARY, PruneConfig, describe,
                                        prune_step)
from declared_groups import mlp_hidden_group, rnn_hidden_group
from eegjax.pruning.surgery import scale_outgoing

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


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
  cfg = PruneConfig("distinctiveness", rule="scaled", step=2, compensation="merge")
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
  cfg = PruneConfig("distinctiveness", rule="paper", step=2, compensation="merge")
  new, ids, _, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                     mlp_hidden_group(0), cfg)
  assert rec["kind"].tolist() == [REMOVED_COMPLEMENTARY, REMOVED_COMPLEMENTARY]
  assert sorted(rec["removed"].tolist()) == [2, 6] and bool(within)
  assert ids.tolist() == [0, 1, 3, 4, 5, 7]
  assert describe(jax.tree.map(np.asarray, rec))[0].endswith("~")


def test_paper_rule_merges_duplicates_exactly():
  model, params, x, g = planted(complement=False)
  cfg = PruneConfig("distinctiveness", rule="paper", step=1, compensation="merge")
  new, ids, _, rec, _ = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                mlp_hidden_group(0), cfg)
  assert rec["kind"].tolist() == [MERGED]
  assert describe(jax.tree.map(np.asarray, rec)) in (["(1->5)"], ["(5->1)"])
  chex.assert_trees_all_close(mlp_from_params(new).apply(new, x), model.apply(params, x),
                              atol=1e-5)


def test_baselines_under_compensation_none_remove_without_transfer():
  model, params, x, g = planted()
  group = mlp_hidden_group(0)
  params["params"]["Dense_1"]["kernel"] = params["params"]["Dense_1"]["kernel"].at[3].mul(1e-3)
  _, ids, _, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0), group,
                                   PruneConfig("magnitude", step=1, compensation="none"))
  assert rec["removed"].tolist() == [3] and rec["kind"].tolist() == [REMOVED]
  _, ids, _, rec, _ = prune_step(params, jnp.arange(8), g, jax.random.key(4), group,
                              PruneConfig("random", step=3, compensation="none"))
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
    cfg = PruneConfig(crit, rule="scaled", step=2, compensation="merge")
    fn = jax.jit(lambda p, i, g, k: prune_step(p, i, g, k, group, cfg))
    batched = jax.jit(jax.vmap(fn))(stacked, ids, grams, keys)
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
  cfg = PruneConfig("distinctiveness", step=2, compensation="none", masked=True)
  masked, ids, alive, rec, within = prune_step(params, jnp.arange(8), g, jax.random.key(0),
                                               group, cfg)
  # the duplicate goes first; then one unit of the complementary pair, its partner pending
  assert ids.shape == (8,) and int(alive.sum()) == 6
  assert rec["kind"].tolist() == [REMOVED, REMOVED_COMPLEMENTARY]
  assert {int(rec["removed"][1]), int(rec["pending"][0])} == {2, 6}
  dead = np.flatnonzero(~np.asarray(alive))
  assert sorted(rec["removed"].tolist()) == dead.tolist()
  np.testing.assert_array_equal(masked["params"]["Dense_0"]["kernel"][:, dead], 0.0)
  np.testing.assert_array_equal(masked["params"]["Dense_1"]["kernel"][dead], 0.0)
  cut = remove_units(params, group, jnp.flatnonzero(alive))
  chex.assert_trees_all_close(model.apply(masked, x), mlp_from_params(cut).apply(cut, x),
                              atol=1e-6)
  # a second step continues from the dead units and keeps them dead
  again = prune_step(masked, ids, g, jax.random.key(0), group, cfg, alive=alive,
                     pending=rec["pending"])
  assert int(again[2].sum()) == 4 and not np.asarray(again[2])[dead].any()
  assert not np.asarray(again[2])[int(rec["pending"][0])]    # the partner went first
  assert int(again[3]["kind"][0]) == REMOVED_COMPLEMENTARY


def test_rnn_pruning_vmapped_equals_per_model():
  from eegjax.models import ElmanRNN
  from eegjax.pruning import activations, discover_groups

  model = ElmanRNN(hidden_size=6, num_classes=2)
  x = jax.random.normal(jax.random.key(0), (5, 50, 1))
  lengths = jnp.array([50, 20, 35, 50, 10])
  ps = [model.init(jax.random.key(s), x) for s in (1, 2)]
  (group,) = [g for g in discover_groups(model.apply, ps[0], x, lengths) if g.prunable]
  grams = [activations(model.apply, p, [group], x, lengths, lengths=lengths)[group.name].gram
           for p in ps]
  stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), *ps)
  keys = jax.random.split(jax.random.key(3), 2)
  for crit, comp, masked in (("distinctiveness", "merge", False),
                             ("distinctiveness", "none", True), ("random", "merge", False)):
    cfg = PruneConfig(crit, rule="scaled", step=2, similar_deg=60, complementary_deg=120,
                      compensation=comp, masked=masked)
    fn = jax.jit(lambda p, g, k: prune_step(p, jnp.arange(6), g, k, rnn_hidden_group(),
                                            cfg))
    batched = jax.jit(jax.vmap(fn))(stacked, jnp.stack(grams), keys)
    for m in range(2):
      chex.assert_trees_all_close(jax.tree.map(lambda a: a[m], batched),
                                  fn(ps[m], grams[m], keys[m]), atol=1e-6)


# --- the pair-choice fixes (each on a hand-made Gram matrix) ---------------------------

def gram_of_angles(deg):
  """A Gram matrix of unit vectors with the given pairwise angles (degrees)."""
  return jnp.cos(jnp.radians(jnp.asarray(deg, jnp.float32)))


def mlp_of(units):
  model = MLP(hidden_sizes=(units,), num_classes=2)
  return model.init(jax.random.key(0), jnp.ones((1, 3)))


def test_paper_rule_takes_a_complementary_pair_in_the_last_slot():
  # units 0 and 1 are complementary (170 deg), nothing else is within 15/165
  ang = [[0, 170, 60, 80], [170, 0, 70, 100], [60, 70, 0, 50], [80, 100, 50, 0]]
  cfg = PruneConfig("distinctiveness", rule="paper", step=1, compensation="merge")
  small, ids, _, rec, within = prune_step(mlp_of(4), jnp.arange(4), gram_of_angles(ang),
                                          jax.random.key(0), mlp_hidden_group(0), cfg)
  assert bool(within) and rec["kind"].tolist() == [REMOVED_COMPLEMENTARY]
  assert {int(rec["removed"][0]), int(rec["pending"][0])} == {0, 1}
  # the partner goes in the next step, whatever else is similar by then
  _, ids2, _, rec2, within2 = prune_step(small, ids, gram_of_angles(ang)[ids][:, ids],
                                         jax.random.key(0), mlp_hidden_group(0), cfg,
                                         pending=rec["pending"])
  assert bool(within2) and int(rec2["removed"][0]) == int(rec["pending"][0])
  assert float(rec2["angle"][0]) == pytest.approx(170.0, abs=0.01)
  assert sorted(ids2.tolist()) == [2, 3]


def test_fallback_picks_the_least_distinct_pair():
  # no pair within 15/165; the least distinct pair is (2, 3) at 20 degrees, while unit 0
  # has the most pairs under 90 degrees
  ang = [[0, 40, 50, 60], [40, 0, 100, 120], [50, 100, 0, 20], [60, 120, 20, 0]]
  k, d, angle, within = choose_pair(jnp.asarray(ang, jnp.float32), jnp.ones(4, bool),
                                    allow_complementary=False)
  assert not bool(within) and {int(k), int(d)} == {2, 3}
  assert float(angle) == pytest.approx(20.0)


def test_complementary_partner_records_its_own_angle():
  # (0, 1) at 170 degrees, and an unrelated similar pair (2, 3) at 10 degrees
  ang = [[0, 170, 60, 80], [170, 0, 70, 100], [60, 70, 0, 10], [80, 100, 10, 0]]
  cfg = PruneConfig("distinctiveness", rule="paper", step=2, order="gentle",
                    compensation="merge")
  _, _, _, rec, _ = prune_step(mlp_of(4), jnp.arange(4), gram_of_angles(ang),
                               jax.random.key(0), mlp_hidden_group(0), cfg)
  comp = [i for i, k in enumerate(rec["kind"].tolist()) if k == REMOVED_COMPLEMENTARY]
  assert len(comp) == 2
  np.testing.assert_allclose(np.asarray(rec["angle"])[comp], 170.0, atol=0.01)


def test_masked_variant_removes_both_units_of_a_complementary_pair():
  ang = [[0, 170, 60, 80], [170, 0, 70, 100], [60, 70, 0, 50], [80, 100, 50, 0]]
  cfg = PruneConfig("distinctiveness", step=2, compensation="none", masked=True)
  _, _, alive, rec, within = prune_step(mlp_of(4), jnp.arange(4), gram_of_angles(ang),
                                        jax.random.key(0), mlp_hidden_group(0), cfg)
  assert bool(within) and np.asarray(alive).tolist() == [False, False, True, True]
  assert rec["kind"].tolist() == [REMOVED_COMPLEMENTARY] * 2 and int(rec["pending"][0]) == -1


@pytest.mark.parametrize("criterion,rule,compensation", [
    ("distinctiveness", "paper", "merge"), ("distinctiveness", "scaled", "merge"),
    ("distinctiveness", "paper", "least_squares"), ("magnitude", "paper", "none"),
    ("magnitude", "scaled", "merge"), ("random", "paper", "mean"),
    ("variance", "paper", "least_squares")])
def test_fixed_shape_pruning_equals_cutting_at_every_step(criterion, rule, compensation):
  """What the studies run (keep_shape: zeroed units, an alive mask, one width) chooses the
  same units, writes the same records and computes the same outputs as cutting the layer
  at every step, over three steps with statistics recomputed from the pruned nets, under
  every compensation."""
  from eegjax.pruning.sweep import cut
  model, params, x, _ = planted()
  group = mlp_hidden_group(0)
  cfg = PruneConfig(criterion, rule=rule, step=2, compensation=compensation)

  def acts_gram(p):
    return stats_of(mlp_from_params(p).apply(p, x, return_activations=True)[1][0])

  small, ids, fixed, alive = params, jnp.arange(8), params, jnp.ones(8, bool)
  pend_s = pend_f = None
  for step in range(3):
    key = jax.random.fold_in(jax.random.key(3), step)
    small, ids, _, rec_s, _ = prune_step(small, ids, acts_gram(small), key, group, cfg,
                                         pending=pend_s)
    fixed, same_ids, alive, rec_f, _ = prune_step(fixed, jnp.arange(8), acts_gram(fixed),
                                                  key, group, cfg, alive=alive,
                                                  pending=pend_f, keep_shape=True)
    pend_s, pend_f = rec_s["pending"], rec_f["pending"]
    assert same_ids.tolist() == list(range(8)) and int(alive.sum()) == 6 - 2 * step
    for k in ("kept", "removed", "kind"):
      assert rec_s[k].tolist() == rec_f[k].tolist(), (step, k)
    assert_angles_close(rec_s["angle"], rec_f["angle"])
    assert ids.tolist() == np.flatnonzero(alive).tolist()
    chex.assert_trees_all_close(model.apply(fixed, x), mlp_from_params(small).apply(small, x),
                                atol=1e-6)
    if compensation == "least_squares":
      continue   # planted units are exactly collinear: the refit is not unique, the outputs are
    stacked = jax.tree.map(lambda a: a[None, None], fixed)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[0, 0], cut(stacked, alive[None, None],
                                                                    group)), small, atol=1e-6)


def test_weight_angle_merges_the_units_with_collinear_incoming_weights():
  """Units 1 and 3 have parallel incoming weight vectors (one twice the other) but
  different activations' Gram entries; weight_angle pairs them, distinctiveness does not
  look at weights."""
  model = MLP((4,), 2)
  x = jax.random.normal(jax.random.key(0), (16, 3))
  params = model.init(jax.random.key(1), x)
  p = params["params"]["Dense_0"]
  kernel = p["kernel"].at[:, 3].set(2.0 * p["kernel"][:, 1])
  bias = p["bias"].at[3].set(2.0 * p["bias"][1])
  params = {"params": {**params["params"], "Dense_0": {"kernel": kernel, "bias": bias}}}
  group = mlp_hidden_group(0)
  gram = jnp.eye(4)                       # activations orthogonal: no activation pair
  cfg = PruneConfig("weight_angle", rule="paper", step=1, similar_deg=5.0,
                    compensation="merge")
  _, _, _, record, within = prune_step(params, jnp.arange(4), gram, jax.random.key(0),
                                       group, cfg)
  assert bool(within)
  assert sorted([int(record["kept"][0]), int(record["removed"][0])]) == [1, 3]


def assert_angles_close(actual, desired, ulps=16):
  """Angles (degrees) from two float32 computations agree to what float32 resolves: their
  cosines to a few units in the last place of 1. That is 1e-5 degrees near 90 and, where
  arccos is steep, a few ANGLE_RESOLUTION_DEG (0.02 degrees) near 0 and 180, where a
  tolerance in degrees would pass on one instruction set and fail on another."""
  cos = lambda a: np.cos(np.radians(np.asarray(a, np.float64)))
  np.testing.assert_allclose(cos(actual), cos(desired), rtol=0, atol=ulps * 2.0 ** -24)


def stats_of(acts, centre=0.5):
  """The analysis dict of activations (patterns, units), as the studies compute it."""
  a = acts - centre
  n = acts.shape[0]
  return {"gram": a.T @ a, "mean": acts.mean(0), "var": acts.var(0),
          "count": jnp.asarray(float(n))}


def test_variance_removes_the_constant_unit_and_keeps_the_outputs_exactly():
  """A unit that is constant over the patterns (zero incoming weights) is the variance
  criterion's choice, and folding its mean into the next bias leaves the outputs as
  they were."""
  model = MLP((4,), 3)
  x = jax.random.normal(jax.random.key(0), (32, 5))
  params = model.init(jax.random.key(2), x)
  p = params["params"]["Dense_0"]
  params = {"params": {**params["params"], "Dense_0": {
      "kernel": p["kernel"].at[:, 2].set(0.0), "bias": p["bias"].at[2].set(0.7)}}}
  group = mlp_hidden_group(0)
  acts = jax.nn.sigmoid(x @ params["params"]["Dense_0"]["kernel"]
                        + params["params"]["Dense_0"]["bias"])
  stats = {"gram": (acts - 0.5).T @ (acts - 0.5), "mean": acts.mean(0), "var": acts.var(0)}
  new, ids, _, record, _ = prune_step(params, jnp.arange(4), stats, jax.random.key(0), group,
                                      PruneConfig("variance", step=1))
  assert int(record["removed"][0]) == 2 and list(np.asarray(ids)) == [0, 1, 3]
  np.testing.assert_allclose(MLP((3,), 3).apply(new, x), model.apply(params, x), atol=1e-5)
  with pytest.raises(ConfigError,
                     match=r"criterion variance with compensation mean needs \['var', 'mean'\]"):
    prune_step(params, jnp.arange(4), stats["gram"], jax.random.key(0), group,
               PruneConfig("variance", step=1))


def test_taylor_gate_gradient_is_activation_times_loss_derivative():
  """d loss / d gate_u at gates 1 (surgery.scale_outgoing) equals the sum over patterns of
  a_u * d loss / d a_u, computed by hand for an MLP; the taylor step removes the unit
  with the smallest |importance|."""
  model = MLP((5,), 3)
  x = jax.random.normal(jax.random.key(3), (20, 4))
  y = jnp.arange(20) % 3
  params = model.init(jax.random.key(4), x)
  group = mlp_hidden_group(0)

  def loss(p):
    return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x), y).sum()

  gate_grad = jax.grad(lambda g: loss(scale_outgoing(params, group, g)))(jnp.ones(5))
  d0, d1 = params["params"]["Dense_0"], params["params"]["Dense_1"]
  a = jax.nn.sigmoid(x @ d0["kernel"] + d0["bias"])

  def head_loss(a):
    logits = a @ d1["kernel"] + d1["bias"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()

  by_hand = (a * jax.grad(head_loss)(a)).sum(0)
  np.testing.assert_allclose(gate_grad, by_hand, rtol=1e-5, atol=1e-6)
  scores = jnp.abs(by_hand) / 20
  _, ids, _, record, _ = prune_step(params, jnp.arange(5), {"gram": jnp.eye(5),
                                                            "taylor": scores},
                                    jax.random.key(0), group,
                                    PruneConfig("taylor", step=1, compensation="none"))
  assert int(record["removed"][0]) == int(jnp.argmin(scores))


def test_a_pending_partner_that_turned_constant_is_removed_once():
  """Step 1 leaves unit 1 pending (its complementary partner 0 went); by step 2 unit 1 is
  constant: it goes first as a constant unit, and is not removed a second time."""
  ang = [[0, 170, 60, 80], [170, 0, 70, 100], [60, 70, 0, 50], [80, 100, 50, 0]]
  cfg = PruneConfig("distinctiveness", rule="paper", step=1, compensation="merge")
  params, g = mlp_of(4), gram_of_angles(ang)
  _, _, alive, rec, _ = prune_step(params, jnp.arange(4), g, jax.random.key(0),
                                   mlp_hidden_group(0), cfg, keep_shape=True)
  partner = int(rec["pending"][0])
  assert partner in (0, 1)
  stats = {"gram": g, "mean": jnp.full(4, 0.6), "var": jnp.ones(4).at[partner].set(0.0)}
  cfg2 = PruneConfig("distinctiveness", rule="paper", step=2, compensation="merge")
  _, _, alive2, rec2, _ = prune_step(params, jnp.arange(4), stats, jax.random.key(0),
                                     mlp_hidden_group(0), cfg2, alive=alive,
                                     pending=rec["pending"], keep_shape=True)
  removed = rec2["removed"].tolist()
  assert removed[0] == partner and int(rec2["kind"][0]) == REMOVED_CONSTANT
  assert len(set(removed)) == 2 and int(alive2.sum()) == 1


@pytest.mark.parametrize("criterion", ["variance", "magnitude", "taylor"])
def test_each_score_criterion_removes_its_lowest_scoring_units_first(criterion):
  """On a network with no constant unit (a constant unit goes first under every criterion,
  so it cannot tell a criterion's direction), a score criterion removes its three lowest
  scoring units, lowest first: a criterion ranking the wrong way (variance keeping the
  least varying unit) fails here."""
  model, params, x, _ = planted(duplicate=False, complement=False)
  st = stats_of(model.apply(params, x, return_activations=True)[1][0])
  assert float(st["var"].min()) > 1e-4                         # no constant unit
  st["taylor"] = jnp.array([0.3, 0.05, 0.9, 0.2, 0.7, 0.01, 0.5, 0.4])
  out_norms = jnp.linalg.norm(params["params"]["Dense_1"]["kernel"], axis=1)
  score = {"variance": st["var"], "magnitude": out_norms, "taylor": st["taylor"]}[criterion]
  assert len(set(np.round(np.asarray(score), 6).tolist())) == 8   # no ties
  cfg = PruneConfig(criterion, step=3, compensation="none")
  _, ids, _, rec, _ = prune_step(params, jnp.arange(8), st, jax.random.key(0),
                                 mlp_hidden_group(0), cfg)
  lowest = np.argsort(np.asarray(score))[:3].tolist()
  assert rec["removed"].tolist() == lowest, (criterion, np.asarray(score))
  assert sorted(ids.tolist()) == sorted(set(range(8)) - set(lowest))
