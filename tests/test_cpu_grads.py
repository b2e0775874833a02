"""eegjax.models.cpu_grads: the EEG conv networks' convolutions and average pools compute
the same forward pass as flax's and the gradient XLA would, to float rounding."""

from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from eegjax.models import cpu_grads, eegconv

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric

DIMS = ("NHWC", "HWIO", "NHWC")


def _close(a, b, rtol=2e-6):
  """Equal to float rounding, relative to the largest entry."""
  scale = float(jnp.abs(b).max())
  assert float(jnp.abs(a - b).max()) <= rtol * max(scale, 1e-6)


@pytest.mark.parametrize("x_shape, k_shape, groups, padding", [
    ((3, 6, 40, 1), (1, 7, 1, 5), 1, "VALID"),     # a temporal conv on the raw trial
    ((3, 6, 33, 4), (6, 1, 4, 8), 1, "VALID"),     # a spatial conv over every electrode
    ((3, 6, 33, 4), (6, 1, 1, 8), 4, "VALID"),     # EEGNet's depthwise (D = 2 per group)
    ((3, 1, 40, 8), (1, 5, 1, 8), 8, "SAME"),      # EEGNet's separable depthwise
    ((3, 5, 9, 4), (2, 3, 2, 6), 2, ((1, 0), (2, 1))),   # 2-D taps, explicit padding
])
def test_conv_forward_is_laxs_and_its_gradient_equals_xlas(x_shape, k_shape, groups,
                                                           padding):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
  k = jnp.asarray(rng.normal(size=k_shape), jnp.float32)
  dn = lax.conv_dimension_numbers(x.shape, k.shape, DIMS)

  def loss(conv):
    return lambda x, k: jnp.sum(jnp.sin(conv(x, k, (1, 1), padding, dimension_numbers=dn,
                                            feature_group_count=groups)))

  mine = cpu_grads.conv(x, k, (1, 1), padding, dimension_numbers=dn,
                        feature_group_count=groups)
  theirs = lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=dn,
                                    feature_group_count=groups)
  np.testing.assert_array_equal(mine, theirs)       # the very same forward computation
  assert "custom_vjp" in str(jax.make_jaxpr(loss(cpu_grads.conv))(x, k))
  got = jax.grad(loss(cpu_grads.conv), (0, 1))(x, k)
  want = jax.grad(loss(lax.conv_general_dilated), (0, 1))(x, k)
  for a, b in zip(got, want):
    _close(a, b)


def test_conv_outside_its_cases_is_laxs_own():
  """A stride or a dilation: lax's convolution and gradient, unchanged."""
  x = jnp.ones((2, 4, 12, 3))
  k = jnp.ones((1, 3, 3, 5))
  dn = lax.conv_dimension_numbers(x.shape, k.shape, DIMS)
  for kw in (dict(window_strides=(1, 2)), dict(window_strides=(1, 1), rhs_dilation=(1, 2))):
    jaxpr = str(jax.make_jaxpr(lambda x, k: cpu_grads.conv(
        x, k, padding="VALID", dimension_numbers=dn, **kw))(x, k))
    assert "custom_vjp" not in jaxpr and "conv_general_dilated" in jaxpr


@pytest.mark.parametrize("length, window, stride", [(100, 75, 15), (37, 4, 4), (41, 8, 8),
                                                    (20, 3, 2)])
def test_avg_pool_forward_is_flaxs_and_its_gradient_equals_xlas(length, window, stride):
  x = jnp.asarray(np.random.default_rng(1).uniform(0.1, 1, (2, 1, length, 3)), jnp.float32)

  def loss(pool):       # the square -> pool -> log of ShallowConvNet
    return lambda x: jnp.sum(jnp.log(pool(jnp.square(x))) * jnp.arange(1, 4))

  mine = cpu_grads.avg_pool(x, (1, window), (1, stride))
  np.testing.assert_array_equal(mine, nn.avg_pool(x, (1, window), strides=(1, stride)))
  _close(jax.grad(loss(lambda x: cpu_grads.avg_pool(x, (1, window), (1, stride))))(x),
         jax.grad(loss(lambda x: nn.avg_pool(x, (1, window), strides=(1, stride))))(x))


def _network(name):
  x = jnp.asarray(np.random.default_rng(2).normal(size=(6, 320, 4)), jnp.float32)
  net = eegconv.sized_for(name, 2, 320, 128.0)
  return net, x


@pytest.mark.parametrize("name", eegconv.NETWORKS)
def test_every_convolution_and_average_pool_of_each_network_takes_the_cpu_path(name):
  net, x = _network(name)
  v = jax.eval_shape(lambda: net.init({"params": jax.random.PRNGKey(0)}, x))
  train = jax.make_jaxpr(lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats"],
                                                rngs={"dropout": jax.random.PRNGKey(2)}))
  eqns = [e.primitive.name for e in train(v, x).jaxpr.eqns]
  convs = sum(1 for path, leaf in jax.tree_util.tree_leaves_with_path(v["params"])
              if path[-1].key == "kernel" and leaf.ndim == 4)
  pools = {"shallow": 1, "eegnet": 2, "deep4": 0}[name]
  assert "conv_general_dilated" not in eqns and "reduce_window_sum" not in eqns
  assert sum(n.startswith("custom_vjp") for n in eqns) == convs + pools


def test_a_networks_training_gradient_equals_xlas():
  """EEGNet's whole training loss (dropout, BatchNorm in train mode; plain, grouped and
  depthwise convolutions, two average pools), with cpu_grads and with XLA's own gradients
  (the custom-VJP functions replaced by their forward pass): the same gradient to float
  rounding."""
  net = eegconv.EEGNet(num_classes=2, f1=4, d=2, kernel_length=8, separable_length=4,
                       pool_1=2, pool_2=4, channels_last=True)    # a small one: fast to compile
  x = jnp.asarray(np.random.default_rng(2).normal(size=(6, 64, 4)), jnp.float32)
  y = jnp.arange(6) % 2
  v = net.init({"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}, x)

  def loss(p):
    out, _ = net.apply({**v, "params": p}, x, train=True, mutable=["batch_stats"],
                       rngs={"dropout": jax.random.PRNGKey(2)})
    return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

  got = jax.jit(jax.grad(loss))(v["params"])
  with mock.patch.object(cpu_grads, "_conv", cpu_grads._forward), \
       mock.patch.object(cpu_grads, "_avg_pool", lambda x, w, s: nn.avg_pool(x, w, strides=s)):
    assert "custom_vjp" not in str(jax.make_jaxpr(loss)(v["params"]))
    want = jax.jit(jax.grad(loss))(v["params"])
  scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(want))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    assert float(jnp.abs(a - b).max()) <= 1e-5 * scale
