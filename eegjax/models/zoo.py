"""The shapes of the models people bring to a pruner, written here in linen at any width:
ResNet-18 / -50 (torchvision's and flaxmodels' layout: convolutions without bias, BatchNorm
in inference mode, basic or bottleneck blocks with a projection shortcut where the shape
changes), ViT-B/16 (Hugging Face's Flax layout: separate query, key and value kernels split
into heads by a reshape, pre-LayerNorm blocks, a class token and position embeddings) and
GPT-2 (one fused `c_attn` kernel split into q, k, v and heads, a causal mask, the output
head tied to the token embedding). Real widths are the defaults; the tests and the README
build them narrow. No weights are downloaded: every model is randomly initialised."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class _ConvBN(nn.Module):
  features: int
  kernel: int
  strides: int = 1

  @nn.compact
  def __call__(self, x):
    p = self.kernel // 2
    x = nn.Conv(self.features, (self.kernel,) * 2, (self.strides,) * 2, [(p, p)] * 2,
                use_bias=False)(x)
    return nn.BatchNorm(use_running_average=True)(x)


class _Block(nn.Module):
  features: int
  strides: int
  bottleneck: bool

  @nn.compact
  def __call__(self, x):
    out = self.features * (4 if self.bottleneck else 1)
    if self.bottleneck:
      h = nn.relu(_ConvBN(self.features, 1)(x))
      h = nn.relu(_ConvBN(self.features, 3, self.strides)(h))
      h = _ConvBN(out, 1)(h)
    else:
      h = nn.relu(_ConvBN(self.features, 3, self.strides)(x))
      h = _ConvBN(out, 3)(h)
    if self.strides != 1 or x.shape[-1] != out:
      x = _ConvBN(out, 1, self.strides)(x)
    return nn.relu(h + x)


class ResNet(nn.Module):
  """ResNet-18 (blocks (2, 2, 2, 2), basic) or ResNet-50 ((3, 4, 6, 3), bottleneck) on
  NHWC images."""
  blocks: Sequence[int] = (2, 2, 2, 2)
  bottleneck: bool = False
  width: int = 64
  classes: int = 1000

  @nn.compact
  def __call__(self, x):
    x = nn.relu(_ConvBN(self.width, 7, 2)(x))
    x = nn.max_pool(x, (3, 3), (2, 2), [(1, 1), (1, 1)])
    for stage, n in enumerate(self.blocks):
      for b in range(n):
        x = _Block(self.width * 2 ** stage, 2 if stage and not b else 1, self.bottleneck)(x)
    return nn.Dense(self.classes)(x.mean((1, 2)))


def resnet18(**kw):
  return ResNet((2, 2, 2, 2), False, **kw)


def resnet50(**kw):
  return ResNet((3, 4, 6, 3), True, **kw)


class _SelfAttention(nn.Module):          # Hugging Face's FlaxViTSelfAttention + output
  d: int
  heads: int

  @nn.compact
  def __call__(self, x):
    b, t, _ = x.shape
    hd = self.d // self.heads
    q, k, v = (nn.Dense(self.d, name=n)(x).reshape(b, t, self.heads, hd)
               for n in ("query", "key", "value"))
    w = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(hd), axis=-1)
    return nn.Dense(x.shape[-1], name="output")(      # back to the stream's width
        jnp.einsum("bhqk,bkhd->bqhd", w, v).reshape(b, t, self.d))


class _ViTLayer(nn.Module):
  d: int
  heads: int
  mlp: int

  @nn.compact
  def __call__(self, x):
    x = x + _SelfAttention(self.d, self.heads, name="attention")(
        nn.LayerNorm(epsilon=1e-12, name="layernorm_before")(x))
    h = nn.LayerNorm(epsilon=1e-12, name="layernorm_after")(x)
    h = nn.Dense(self.mlp, name="intermediate")(h)
    return x + nn.Dense(self.d, name="output")(nn.gelu(h))


class ViT(nn.Module):
  """ViT-B/16 by default: 224 x 224 images in 16 x 16 patches, 12 layers of 768 features,
  12 heads, MLP 3072."""
  d: int = 768
  layers: int = 12
  heads: int = 12
  mlp: int = 3072
  patch: int = 16
  classes: int = 1000

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.d, (self.patch,) * 2, (self.patch,) * 2, padding="VALID",
                name="patch_embeddings")(x)
    b, h, w, _ = x.shape
    x = x.reshape(b, h * w, self.d)
    cls = self.param("cls_token", nn.initializers.normal(0.02), (1, 1, self.d))
    x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, self.d)), x], axis=1)
    x = x + self.param("position_embeddings", nn.initializers.normal(0.02),
                       (1, h * w + 1, self.d))
    for i in range(self.layers):
      x = _ViTLayer(self.d, self.heads, self.mlp, name=f"layer_{i}")(x)
    x = nn.LayerNorm(epsilon=1e-12, name="layernorm")(x)
    return nn.Dense(self.classes, name="classifier")(x[:, 0])


class _GPT2Block(nn.Module):              # Hugging Face's FlaxGPT2Block
  d: int
  heads: int

  @nn.compact
  def __call__(self, x):
    b, t, _ = x.shape
    hd = self.d // self.heads
    h = nn.LayerNorm(epsilon=1e-5, name="ln_1")(x)
    q, k, v = jnp.split(nn.Dense(3 * self.d, name="c_attn")(h), 3, axis=-1)
    q, k, v = (a.reshape(b, t, self.heads, hd) for a in (q, k, v))
    s = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(hd)
    s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s, jnp.finfo(s.dtype).min)
    a = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v).reshape(b, t, self.d)
    x = x + nn.Dense(self.d, name="attn_c_proj")(a)
    h = nn.LayerNorm(epsilon=1e-5, name="ln_2")(x)
    h = nn.gelu(nn.Dense(4 * self.d, name="c_fc")(h))
    return x + nn.Dense(self.d, name="mlp_c_proj")(h)


class GPT2(nn.Module):
  """GPT-2 small by default: 12 blocks of 768 features, 12 heads, a 50,257-token vocabulary,
  logits from the token embedding (tied)."""
  d: int = 768
  layers: int = 12
  heads: int = 12
  vocab: int = 50257
  positions: int = 1024

  @nn.compact
  def __call__(self, tokens):
    wte = nn.Embed(self.vocab, self.d, name="wte")
    x = wte(tokens) + nn.Embed(self.positions, self.d, name="wpe")(
        jnp.arange(tokens.shape[1]))
    for i in range(self.layers):
      x = _GPT2Block(self.d, self.heads, name=f"h_{i}")(x)
    return wte.attend(nn.LayerNorm(epsilon=1e-5, name="ln_f")(x))
