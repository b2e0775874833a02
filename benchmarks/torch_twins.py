"""The PyTorch twins of `eegjax.models.zoo`'s models, for running Torch-Pruning beside eegjax in
`engine.py` (torchvision's wheel does not import on a CPU-only machine here, so the twins
are written out): the same layers, widths and inputs (NCHW images, token ids), randomly
initialised. Attention keeps its head width and reads its head count from the fused qkv
kernel, so a twin runs after Torch-Pruning removes whole heads. Imported only when torch is
installed (`pip install -e ".[torch-bench]"`); never by the package."""

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
  def __init__(self, c_in, features, strides, bottleneck):
    super().__init__()
    out = features * (4 if bottleneck else 1)

    def conv_bn(i, o, k, s=1):
      return nn.Sequential(nn.Conv2d(i, o, k, s, k // 2, bias=False), nn.BatchNorm2d(o))
    if bottleneck:
      self.body = nn.Sequential(conv_bn(c_in, features, 1), nn.ReLU(),
                                conv_bn(features, features, 3, strides), nn.ReLU(),
                                conv_bn(features, out, 1))
    else:
      self.body = nn.Sequential(conv_bn(c_in, features, 3, strides), nn.ReLU(),
                                conv_bn(features, out, 3))
    self.shortcut = (conv_bn(c_in, out, 1, strides) if strides != 1 or c_in != out
                     else nn.Identity())

  def forward(self, x):
    return F.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
  def __init__(self, blocks=(2, 2, 2, 2), bottleneck=False, width=64, classes=1000):
    super().__init__()
    self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                              nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    layers, c = [], width
    for stage, n in enumerate(blocks):
      for b in range(n):
        layers.append(_Block(c, width * 2 ** stage, 2 if stage and not b else 1, bottleneck))
        c = width * 2 ** stage * (4 if bottleneck else 1)
    self.layers = nn.Sequential(*layers)
    self.fc = nn.Linear(c, classes)

  def forward(self, x):
    return self.fc(self.layers(self.stem(x)).mean((2, 3)))


class _Attention(nn.Module):
  def __init__(self, d, heads, causal):
    super().__init__()
    self.head_dim, self.causal = d // heads, causal
    self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

  def forward(self, x):
    b, t, _ = x.shape
    heads = self.qkv.out_features // (3 * self.head_dim)
    q, k, v = self.qkv(x).reshape(b, t, 3, heads, self.head_dim).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
    return self.proj(a.transpose(1, 2).reshape(b, t, heads * self.head_dim))


class _Layer(nn.Module):
  def __init__(self, d, heads, mlp, causal):
    super().__init__()
    self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
    self.attn = _Attention(d, heads, causal)
    self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)

  def forward(self, x):
    x = x + self.attn(self.ln1(x))
    return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViT(nn.Module):
  def __init__(self, d=768, layers=12, heads=12, mlp=3072, patch=16, classes=1000,
               image=224):
    super().__init__()
    self.patch = nn.Conv2d(3, d, patch, patch)
    self.cls = nn.Parameter(torch.zeros(1, 1, d))
    self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, d))
    self.layers = nn.Sequential(*[_Layer(d, heads, mlp, False) for _ in range(layers)])
    self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

  def forward(self, x):
    x = self.patch(x).flatten(2).transpose(1, 2)
    x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
    return self.head(self.norm(self.layers(x))[:, 0])


class GPT2(nn.Module):
  def __init__(self, d=768, layers=12, heads=12, vocab=50257, positions=1024):
    super().__init__()
    self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
    self.layers = nn.Sequential(*[_Layer(d, heads, 4 * d, True) for _ in range(layers)])
    self.ln_f = nn.LayerNorm(d)

  def forward(self, tokens):
    x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
    return F.linear(self.ln_f(self.layers(x)), self.wte.weight)      # tied


def build(name):
  """(model, example input, layers to leave whole, {qkv layer: heads})."""
  if name in ("resnet18", "resnet50"):
    m = ResNet((2, 2, 2, 2), False) if name == "resnet18" else ResNet((3, 4, 6, 3), True)
    return m.eval(), torch.randn(1, 3, 224, 224), [m.fc], {}
  if name == "vit_b16":
    m = ViT().eval()
    return m, torch.randn(1, 3, 224, 224), [m.head], {
        l.attn.qkv: 12 for l in m.layers}
  m = GPT2().eval()
  return m, torch.randint(0, 50257, (1, 128)), [m.wte, m.wpe, m.ln_f], {
      l.attn.qkv: 12 for l in m.layers}
