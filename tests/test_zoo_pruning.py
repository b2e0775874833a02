"""The models people bring (`eegjax.models.zoo`, narrow widths): ResNet-18's basic blocks,
ResNet-50's bottlenecks, ViT's separate query/key/value heads, GPT-2's fused c_attn; 30%
of every prunable group removed by `prune_to` in one call equals the original with those
units zeroed (1e-5), heads pruned whole; the residual stream of a pre-LayerNorm
transformer, whose LayerNorm then averages over fewer features, is the one approximation,
left out here and measured by benchmarks/engine.py; GPT-2's is tied to its embedding and
refused."""

import jax
import numpy as np
import pytest

from eegjax import pruning
from eegjax.models import zoo

pytestmark = pytest.mark.numeric


CASES = {
    "resnet18": (lambda: zoo.resnet18(width=8, classes=5), "image", ()),
    "resnet50": (lambda: zoo.resnet50(width=4, classes=5), "image", ()),
    "vit": (lambda: zoo.ViT(d=24, layers=2, heads=4, mlp=48, patch=8, classes=5), "image",
            ("*patch_embeddings",)),
    "gpt2": (lambda: zoo.GPT2(d=24, layers=2, heads=4, vocab=50, positions=12), "tokens", ()),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "resnet50"
                                  else n for n in sorted(CASES)])  # CI runs it (-m slow)
def test_thirty_percent_of_every_group_equals_the_original_with_those_units_zeroed(name):
  build, kind, ignore = CASES[name]
  model = build()
  x = (jax.random.normal(jax.random.key(0), (4, 32, 32, 3)) if kind == "image" else
       jax.random.randint(jax.random.key(0), (4, 12), 0, 50))
  params = jax.jit(model.init)(jax.random.key(1), x)
  small, report = pruning.prune_to(model.apply, params, x, ratio=0.3, ignore=ignore,
                                   criterion="magnitude", compensation="none")
  assert report.groups and all(g["units_after"] < g["units_before"]
                               for g in report.groups.values())
  heads = {n: g for n, g in report.groups.items() if n.endswith(".heads")}
  assert (len(heads) == 2) == (name in ("vit", "gpt2"))
  assert all(g["units_after"] == 3 for g in heads.values())          # 4 heads -> 3, whole
  want = model.apply(report.zeroed(params), x)
  got = jax.jit(report.apply)(small, x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
  assert report.after.macs < 0.85 * report.before.macs
  if name == "gpt2":
    assert "tied weights" in " ".join(report.skipped.values())
