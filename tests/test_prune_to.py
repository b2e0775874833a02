"""pruning.cost (parameters and multiply-adds from the traced program, at any widths) and
pruning.prune_to (a whole model to a ratio or a cost target in one call)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax import pruning
from eegjax.errors import ConfigError
from eegjax.evaluate.cost import count_macs, count_trainable, multiply_adds
from eegjax.pruning.cost import Counter


class ConvNet(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(16, (3, 3))(x))
    x = nn.relu(nn.Conv(32, (3, 3))(x))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(40)(x))
    return nn.Dense(3)(x)


class Grouped(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(8, (3, 3))(x))
    x = nn.relu(nn.Conv(16, (3, 3), feature_group_count=2)(x))
    x = nn.relu(nn.Conv(16, (3, 3), feature_group_count=16)(x))
    return nn.Dense(3)(x.mean(axis=(1, 2)))


class Attention(nn.Module):
  @nn.compact
  def __call__(self, x):
    h = nn.Dense(16)(x)
    h = h + nn.MultiHeadDotProductAttention(num_heads=4, qkv_features=16)(h)
    return nn.Dense(2)(nn.gelu(nn.Dense(24)(nn.LayerNorm()(h))).mean(axis=1))


class Recurrent(nn.Module):
  @nn.compact
  def __call__(self, x):
    h = nn.RNN(nn.GRUCell(12))(x)
    return nn.Dense(3)(h[:, -1])


class Mlp(nn.Module):
  hidden: int = 30

  @nn.compact
  def __call__(self, x):
    h = nn.sigmoid(nn.Dense(self.hidden)(x))
    return nn.Dense(3)(h)


def _init(model, shape, seed=0):
  x = jax.random.normal(jax.random.key(seed + 1), shape)
  return x, model.init(jax.random.key(seed), x)


@pytest.mark.parametrize("model,shape", [(ConvNet(), (8, 6, 6, 2)), (Grouped(), (8, 6, 6, 2)),
                                         (Attention(), (8, 5, 4)), (Recurrent(), (8, 7, 3)),
                                         (Mlp(), (8, 25))])
def test_cost_totals_equal_the_traced_shapes_count(model, shape):
  x, params = _init(model, shape)
  c = pruning.cost(model.apply, params, x)
  assert c.macs == multiply_adds(model.apply, params, x[:1])
  assert c.params == count_trainable(params)
  # every group's share, counted for all groups in one walk, is the count with it removed
  counter = Counter(pruning.Program(model.apply, params, x))
  table = counter.sizes(params)
  for name, g in c.groups.items():
    p, m = counter.count({**table, counter.atoms[name]: 0})
    assert (g.params, g.macs) == (c.params - p, c.macs - m), name
  assert c.groups


def test_cost_counts_a_pruned_mlp_at_its_new_width_and_each_groups_share():
  x, params = _init(Mlp(), (16, 25))
  program = pruning.Program(Mlp().apply, params, x)
  c = pruning.cost(Mlp().apply, params, x, program=program)
  # the hidden layer's share: its kernel and bias and the next kernel's rows
  assert c.groups["Dense_0"].params == 25 * 30 + 30 + 30 * 3
  assert c.groups["Dense_0"].macs == 25 * 30 + 30 * 3
  group = next(g for g in program.groups if g.name == "Dense_0")
  small = pruning.remove_units(params, group, np.arange(0, 30, 3))       # 10 units left
  got = pruning.cost(Mlp().apply, small, x, program=program)
  _, narrow = _init(Mlp(hidden=10), (16, 25))
  assert got.macs == multiply_adds(Mlp(hidden=10).apply, narrow, x[:1]) == 25 * 10 + 10 * 3
  assert got.params == count_trainable(narrow)
  assert got.groups["Dense_0"].units == 10


def test_count_macs_takes_a_conds_costliest_branch_and_a_scans_length():
  def f(w, x):
    y = jax.lax.cond(x.sum() > 0, lambda: x @ w, lambda: (x @ w) @ jnp.eye(4))
    return jax.lax.scan(lambda c, _: (c @ jnp.eye(4), None), y, None, length=3)[0]
  jaxpr = jax.make_jaxpr(f)(jnp.ones((5, 4)), jnp.ones((2, 5))).jaxpr
  got = count_macs(jaxpr, lambda path, v, a: v.aval.shape[a], lambda h, e: e.params["length"])
  assert got == (2 * 4 * 5 + 2 * 4 * 4) + 3 * (2 * 4 * 4)


@pytest.mark.parametrize("criterion", ["magnitude", "distinctiveness", "random"])
def test_pruned_model_equals_the_original_with_those_units_zeroed(criterion):
  model = ConvNet()
  x, params = _init(model, (32, 6, 6, 2))
  small, report = pruning.prune_to(model.apply, params, x, ratio=0.3, criterion=criterion,
                                   compensation="none")
  assert {n: g["units_after"] for n, g in report.groups.items()} == {
      "Conv_0": 16 - 4, "Conv_1": 32 - 9, "Dense_0": 40 - 12}
  program = pruning.Program(model.apply, params, x)
  want = model.apply(report.zeroed(params), x)
  got = pruning.resized_apply(model.apply, params, x[:2])(small, x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert report.after.macs == pruning.cost(model.apply, small, x, program=program).macs


def test_mean_compensation_removes_constant_units_exactly():
  model = Mlp()
  x, params = _init(model, (64, 25))
  b = np.array(params["params"]["Dense_0"]["bias"])
  b[:6] = 60.0                                  # six saturated sigmoids: constant at 1
  params = jax.tree.map(lambda a: a, params)
  params["params"]["Dense_0"]["bias"] = jnp.asarray(b)
  small, report = pruning.prune_to(model.apply, params, x, ratio=0.2, criterion="magnitude",
                                   compensation="mean")
  assert sorted(set(range(30)) - set(report.groups["Dense_0"]["kept"])) == list(range(6))
  got = pruning.resized_apply(model.apply, params, x[:2])(small, x)
  np.testing.assert_allclose(got, model.apply(params, x), rtol=1e-5, atol=1e-5)


def test_target_macs_is_met_and_not_overshot():
  model = ConvNet()
  x, params = _init(model, (32, 6, 6, 2))
  for kw in ({}, {"global_ranking": True}):
    _, report = pruning.prune_to(model.apply, params, x, target_macs=0.5,
                                 criterion="magnitude", compensation="none", **kw)
    share = report.after.macs / report.before.macs
    assert 0.4 < share <= 0.5, (kw, share)


def test_round_to_ignore_ratios_and_iterative_steps():
  model = ConvNet()
  x, params = _init(model, (32, 6, 6, 2))
  _, r = pruning.prune_to(model.apply, params, x, ratio=0.3, round_to=8,
                          criterion="magnitude", compensation="none")
  assert [g["units_after"] for g in r.groups.values()] == [16, 24, 32]
  _, r = pruning.prune_to(model.apply, params, x, ratios={"Conv_*": 0.5}, ignore=["Dense_0"],
                          criterion="magnitude", compensation="none")
  assert [g["units_after"] for g in r.groups.values()] == [8, 16]
  assert r.skipped["Dense_0"] == "ignored"
  _, r = pruning.prune_to(model.apply, params, x, ratio=0.5, iterative_steps=3,
                          criterion="distinctiveness", compensation="mean")
  assert [g["units_after"] for g in r.groups.values()] == [8, 16, 20]


def test_global_ranking_takes_the_weakest_group_first():
  model = ConvNet()
  x, params = _init(model, (32, 6, 6, 2))
  # Conv_1's channels act through the Dense_0 kernel's rows (c, 32 + c, ...): make 22 of
  # them weak, far below their group's mean (the scores are relative to it)
  k = np.array(params["params"]["Dense_0"]["kernel"]).reshape(36, 32, 40)
  k[:, :22] *= 1e-3
  params["params"]["Dense_0"]["kernel"] = jnp.asarray(k.reshape(36 * 32, 40))
  _, r = pruning.prune_to(model.apply, params, x, ratio=0.25, global_ranking=True,
                          criterion="magnitude", compensation="none")
  after = {n: g["units_after"] for n, g in r.groups.items()}
  assert after["Conv_1"] == 32 - 22 and after["Conv_0"] == 16 and after["Dense_0"] == 40
  _, r = pruning.prune_to(model.apply, params, x, ratio=0.25, criterion="magnitude",
                          compensation="none")
  assert [g["units_after"] for g in r.groups.values()] == [12, 24, 30]


@pytest.mark.parametrize("kwargs,words", [
    ({"ratio": 1.5}, "ratio=1.5 must be a fraction in [0, 1)"),
    ({"ratio": 0.3, "target_macs": 0.5}, "not several"),
    ({}, "say how much"),
    ({"ratio": 0.3, "ignore": ["Conv_9"]}, "ignore names 'Conv_9', which matches no unit group"),
    ({"target_macs": 0.001}, "target_macs=0.001 cannot be met"),
    ({"ratio": 0.3, "round_to": 0}, "round_to=0 must be a whole number >= 1"),
    ({"ratios": {"Conv_0": 0.5}, "global_ranking": True}, "exclude each other"),
])
def test_prune_to_refuses_a_bad_request_in_one_sentence(kwargs, words):
  model = ConvNet()
  x, params = _init(model, (8, 6, 6, 2))
  with pytest.raises(ConfigError, match=None) as e:
    pruning.prune_to(model.apply, params, x, criterion="magnitude", compensation="none",
                     **kwargs)
  assert words in str(e.value)


def test_prune_names_its_own_arguments_and_points_a_fraction_to_prune_to():
  x, params = _init(Mlp(), (8, 25))
  with pytest.raises(ConfigError, match=r"max_pruned=0\.3 .*prune_to\(\.\.\., ratio=\.\.\.\)"):
    pruning.prune(Mlp().apply, params, x, max_pruned=0.3)
  with pytest.raises(ConfigError, match=r"max_pruned=-3 must be a number of units"):
    pruning.prune(Mlp().apply, params, x, max_pruned=-3)
  with pytest.raises(ConfigError, match=r"step=0 must be a whole number"):
    pruning.prune(Mlp().apply, params, x, step=0)


@pytest.mark.parametrize("criterion", ["magnitude", "variance"])
def test_a_score_criterions_host_order_is_the_compiled_slots_order(criterion):
  """removal_order sorts a score criterion's units on the host (nothing compiled per group
  size); the compiled slots it stands for choose the same units: constant units first,
  ties to the lower index."""
  from eegjax.pruning import progressive
  from eegjax.pruning.engine import stats_analysis
  model = Mlp()
  x, params = _init(model, (64, 25))
  params = jax.tree.map(np.array, params)
  params["params"]["Dense_0"]["bias"][[3, 17]] = 60.0          # two constant units
  params["params"]["Dense_0"]["kernel"][:, 9] = params["params"]["Dense_0"]["kernel"][:, 4]
  params["params"]["Dense_1"]["kernel"][9] = params["params"]["Dense_1"]["kernel"][4]  # a tie
  group = pruning.discover_groups(model.apply, params, x)[0]
  cfg = progressive.PruneConfig(criterion, "paper", 1, 15.0, 165.0, "study",
                                compensation="mean")
  stats = stats_analysis(pruning.activations(model.apply, params, [group], x)[group.name],
                         group)
  host = progressive.removal_order(params, group, cfg, stats, jax.random.key(0), 29)
  pair_gram, scores = progressive._criterion_inputs(params, group, cfg, stats)
  arrays = {k: stats[k] for k in ("gram", "mean", "var") if k in stats}
  compiled = progressive._order_program(cfg, group.centre, 30, 29)(arrays, pair_gram, scores,
                                                                   jax.random.key(0))
  assert list(host["d"][:2]) == [3, 17]
  for k, v in compiled.items():
    np.testing.assert_array_equal(np.asarray(host[k]), np.asarray(v), err_msg=k)
