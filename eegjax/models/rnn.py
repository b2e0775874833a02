"""Many-to-one Elman RNN (tanh) with per-sequence length masking and a dense readout.

    h_t = tanh(x_t @ ih/kernel + ih/bias + h_{t-1} @ hh/kernel),  h_0 = 0
    logits = h_L @ readout/kernel + readout/bias,  L = the sequence's true length

Steps at or beyond a sequence's length leave h unchanged, so padding never changes the
result. The input projection for all steps is one matmul before the `lax.scan`; the scan
carries only the recurrent product. Hidden unit j is column j of `ih/kernel`, entry j of
`ih/bias`, row and column j of `hh/kernel` and row j of `readout/kernel`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def _torch_uniform(scale):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


class ElmanRNN(nn.Module):
  hidden_size: int
  num_classes: int

  @nn.compact
  def __call__(self, x, lengths=None, return_trajectory: bool = False):
    """x: (B, T, C); lengths: (B,) ints or None (all T). Returns logits (B, K) and, with
    `return_trajectory`, the hidden states (B, T, H) (steps past a length repeat h_L)."""
    h_size = self.hidden_size
    # Same initial scale as torch.nn.RNN: U(-1/sqrt(H), 1/sqrt(H)).
    init = _torch_uniform(1.0 / jnp.sqrt(h_size))
    w_ih = self.param("ih", lambda k: {"kernel": init(k, (x.shape[-1], h_size)),
                                       "bias": init(jax.random.fold_in(k, 1), (h_size,))})
    w_hh = self.param("hh", lambda k: {"kernel": init(k, (h_size, h_size))})
    batch, steps = x.shape[0], x.shape[1]
    if lengths is None:
      lengths = jnp.full((batch,), steps, jnp.int32)
    proj = jnp.einsum("btc,ch->tbh", x, w_ih["kernel"]) + w_ih["bias"]

    def step(h, inputs):
      p_t, t = inputs
      h_new = jnp.tanh(p_t + h @ w_hh["kernel"])
      h = jnp.where((t < lengths)[:, None], h_new, h)
      return h, (h if return_trajectory else None)

    h0 = jnp.zeros((batch, h_size), x.dtype)
    h_last, traj = jax.lax.scan(step, h0, (proj, jnp.arange(steps)))
    logits = nn.Dense(self.num_classes, name="readout")(h_last)
    if return_trajectory:
      return logits, jnp.swapaxes(traj, 0, 1)
    return logits


def rnn_sizes(params) -> dict:
  p = params.get("params", params)
  return {"num_inputs": int(p["ih"]["kernel"].shape[0]),
          "hidden_size": int(p["hh"]["kernel"].shape[0]),
          "num_classes": int(p["readout"]["kernel"].shape[1])}


def rnn_from_params(params) -> ElmanRNN:
  s = rnn_sizes(params)
  return ElmanRNN(hidden_size=s["hidden_size"], num_classes=s["num_classes"])
