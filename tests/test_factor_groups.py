"""Factor groups: unit axes reshaped into products (attention heads in fused or separate
query-key-value kernels, GroupNorm's groups, a reshaped and transposed Dense, maxout) are
sized from the parameters' shapes, pruned as whole factors and exact; a factor whose size
the shapes cannot determine is refused in one sentence."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegjax import pruning
from eegjax.models import zoo
from eegjax.pruning.dims import solve_products


class FusedAttention(nn.Module):          # GPT-2's layout: one c_attn kernel split q, k, v
  d: int = 32
  heads: int = 4

  @nn.compact
  def __call__(self, x):
    b, t, _ = x.shape
    q, k, v = jnp.split(nn.Dense(3 * self.d, name="c_attn")(x), 3, axis=-1)
    split = lambda a: a.reshape(b, t, self.heads, self.d // self.heads)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    w = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(self.d // self.heads))
    return nn.Dense(x.shape[-1], name="c_proj")(
        jnp.einsum("bhqk,bkhd->bqhd", w, v).reshape(b, t, self.d))


class SeparateAttention(zoo._SelfAttention):   # BERT's and ViT's layout: query, key, value
  d: int = 32
  heads: int = 4


class Block(nn.Module):                   # a pre-LayerNorm transformer block
  attention: type

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(16, name="embed")(x)
    x = x + self.attention(name="attn")(nn.LayerNorm()(x))
    x = x + nn.Dense(16, name="proj")(nn.gelu(nn.Dense(48, name="fc")(nn.LayerNorm()(x))))
    return nn.Dense(3, name="head")(x.mean(1))


class GroupNormConv(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(3)(nn.relu(nn.GroupNorm(num_groups=4)(nn.Conv(16, (3,))(x))).mean(1))


class ReshapedDense(nn.Module):
  @nn.compact
  def __call__(self, x):
    h = nn.relu(nn.Dense(24)(x).reshape(x.shape[0], 4, 6).transpose(0, 2, 1))
    return nn.Dense(3)(h.reshape(x.shape[0], -1))


class Maxout(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(3)(nn.Dense(24)(x).reshape(x.shape[0], 8, 3).max(-1))


def _setup(model, shape):
  x = jax.random.normal(jax.random.key(0), shape)
  return x, model.init(jax.random.key(1), x)


def _zeroed(model, params, x, report):
  for g in pruning.Program(model.apply, params, x).groups:
    if g.name in report.groups:
      alive = np.zeros(report.groups[g.name]["units_before"], bool)
      alive[report.groups[g.name]["kept"]] = True
      params = pruning.zero_units(params, g, alive)
  return params


def test_solve_products_separates_heads_from_a_fused_kernel():
  # c_attn: (H, 8) + (H, 8) + (H, V) = 40 entries; c_proj rows: (H, V) = 8
  got = solve_products([([["H", 8], ["H", 8], ["H", "V"]], 40), ([["H", "V"]], 8)], {})
  assert got == {"H": 2, "V": 4}
  assert solve_products([([["G", "C"]], 16)], {}) == {}          # only the product: unsolved


@pytest.mark.parametrize("attention,names", [
    (FusedAttention, ("attn/c_attn.heads", "attn/c_attn", "attn/c_attn.query_key_dim")),
    (SeparateAttention, ("attn.heads", "attn/value", "attn.query_key_dim"))])
@pytest.mark.parametrize("criterion", ["magnitude", "distinctiveness"])
def test_attention_heads_prune_as_whole_heads_and_exactly(attention, names, criterion):
  heads, value_dims, query_key = names
  model = Block(attention)
  x, params = _setup(model, (16, 5, 6))
  groups = {g.name: g for g in pruning.discover_groups(model.apply, params, x)}
  assert groups[heads].prunable and groups[heads].size(params) == 4
  assert groups[value_dims].prunable and groups[value_dims].size(params) == 8
  assert not groups[query_key].prunable and "bilinearly" in groups[query_key].reason
  small, report = pruning.prune_to(model.apply, params, x, ratio=0.5, criterion=criterion,
                                   compensation="none", ignore=["*+embed+proj"])
  assert report.groups[heads]["units_after"] == 2
  assert report.groups[value_dims]["units_after"] == 4
  got = pruning.resized_apply(model.apply, params, x[:2])(small, x)
  want = model.apply(_zeroed(model, params, x, report), x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model,shape,pruned,refused,words", [
    # GroupNorm: whole groups go (exact: the other groups' statistics do not change)
    (GroupNormConv(), (8, 10, 2), {"Conv_0": (4, 2)}, "Conv_0.axis2.factor1",
     "could not be told from theirs"),
    (ReshapedDense(), (8, 5), {"Dense_0.axis1.factor1": (6, 3)}, "Dense_0",
     "could not be told from theirs"),
    # maxout (the outer Dense is built first, so the maxout layer is Dense_1)
    (Maxout(), (8, 5), {"Dense_1": (8, 4)}, "Dense_1.axis1.factor1",
     "has no outgoing weights to measure")])
def test_reshaped_unit_axes_prune_exactly_or_are_refused_in_a_sentence(model, shape, pruned,
                                                                        refused, words):
  x, params = _setup(model, shape)
  small, report = pruning.prune_to(model.apply, params, x, ratio=0.5, criterion="magnitude",
                                   compensation="none")
  assert {n: (g["units_before"], g["units_after"]) for n, g in report.groups.items()} == pruned
  assert words in report.skipped[refused]
  got = pruning.resized_apply(model.apply, params, x[:2])(small, x)
  want = model.apply(_zeroed(model, params, x, report), x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
