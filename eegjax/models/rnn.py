"""Many-to-one Elman RNN (tanh) with per-sequence length masking and a dense readout.

    h_t = tanh(x_t @ ih/kernel + ih/bias + h_{t-1} @ hh/kernel),  h_0 = 0
    logits = h_L @ readout/kernel + readout/bias,  L = the sequence's true length

Steps at or beyond a sequence's length leave h unchanged, so padding never changes the
result. Hidden unit j is column j of `ih/kernel`, entry j of `ih/bias`, row and column j
of `hh/kernel` and row j of `readout/kernel`.

The recurrence (`recurrence`) has a hand-written backward pass. Autodiff through the scan
forms the weight gradients step by step (small H x B x H products and accumulations per
time step, on top of the product that carries the gradient back); here the backward scan
carries only dh and walks time in chunks of K steps: each chunk's dz_t = dh_t (1 - h_t^2)
are kept, and each weight gradient takes one K B-row matmul per chunk, on arrays still in
cache. It equals autodiff's gradient (tests/test_models.py).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def chunk_steps(steps: int) -> tuple[int, int]:
  """(K, padded T): the backward pass walks time in chunks of K steps; T is padded (with
  inactive steps, which change nothing) to a multiple of K when no K in 16..64 divides it."""
  for k in range(64, 15, -1):
    if steps % k == 0:
      return k, steps
  return 32, -(-steps // 32) * 32


def _states(x, w_ih, b, w_hh, active):
  """All hidden states (T, B, H) of the masked tanh recurrence over x (T, B, C):
  h_t = tanh(x_t w_ih + b + h_{t-1} w_hh) where `active[t]` (T, B), else h_{t-1};
  h_{-1} = 0. The input projection is formed inside the step (no (T, B, H) copy of it)."""
  h0 = jnp.zeros((x.shape[1], w_hh.shape[0]), x.dtype)

  def step(h, inputs):
    x_t, a_t = inputs
    h = jnp.where(a_t[:, None], jnp.tanh(x_t @ w_ih + b + h @ w_hh), h)
    return h, h

  return jax.lax.scan(step, h0, (x, active))[1]


@jax.custom_vjp
def recurrence(x, w_ih, b, w_hh, active):
  """The last hidden state (B, H) of the masked tanh recurrence (see `_states`); T must be
  a multiple of `chunk_steps(T)[0]`."""
  return _states(x, w_ih, b, w_hh, active)[-1]


def _recurrence_fwd(x, w_ih, b, w_hh, active):
  states = _states(x, w_ih, b, w_hh, active)
  return states[-1], (x, w_ih, w_hh, active, states)


def _recurrence_bwd(res, g_last):
  x, w_ih, w_hh, active, states = res
  steps, batch, hidden = states.shape
  k, _ = chunk_steps(steps)
  n = steps // k
  w_t = w_hh.T
  chunks = states.reshape(n, k, batch, hidden)
  # The state before each chunk's first step (h_{-1} = 0 before the first chunk).
  before = jnp.concatenate([jnp.zeros_like(chunks[:1, -1]), chunks[:-1, -1]])

  def step(g, inputs):                   # backwards in time; g = dL/dh_t
    h_t, a_t = inputs
    a = a_t[:, None]
    dz = jnp.where(a, g * (1.0 - h_t * h_t), 0.0)
    return jnp.where(a, dz @ w_t, g), dz

  def chunk(carry, inputs):
    g, d_hh, d_ih, d_b = carry
    h, h_before, x_c, a_c = inputs
    g, dz = jax.lax.scan(step, g, (h, a_c), reverse=True)
    prev = jnp.concatenate([h_before[None], h[:-1]])            # h_{t-1}
    # One matmul per chunk over its K x B (state, dz) pairs, on arrays still in cache.
    d_hh = d_hh + jnp.einsum("tbh,tbj->hj", prev, dz)
    d_ih = d_ih + jnp.einsum("tbc,tbh->ch", x_c, dz)
    return (g, d_hh, d_ih, d_b + dz.sum(axis=(0, 1))), dz

  zeros = jnp.zeros_like
  init = (g_last, zeros(w_hh), zeros(w_ih), jnp.zeros((hidden,), states.dtype))
  (_, d_hh, d_ih, d_b), dz = jax.lax.scan(
      chunk, init, (chunks, before, x.reshape(n, k, *x.shape[1:]),
                    active.reshape(n, k, batch)), reverse=True)
  d_x = jnp.einsum("tbh,ch->tbc", dz.reshape(steps, batch, hidden), w_ih)  # dropped if unused
  return d_x, d_ih, d_b, d_hh, None


recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


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
    _, padded = chunk_steps(steps)
    x_t = jnp.swapaxes(x, 0, 1)                                        # (T, B, C)
    x_t = jnp.pad(x_t, ((0, padded - steps), (0, 0), (0, 0)))
    active = jnp.arange(padded)[:, None] < lengths[None, :]            # (T', B)
    args = (x_t, w_ih["kernel"], w_ih["bias"], w_hh["kernel"], active)
    if return_trajectory:
      states = _states(*args)
      h_last = states[-1]
    else:
      h_last = recurrence(*args)
    logits = nn.Dense(self.num_classes, name="readout")(h_last)
    if return_trajectory:
      return logits, jnp.swapaxes(states[:steps], 0, 1)
    return logits


def rnn_sizes(params) -> dict:
  p = params.get("params", params)
  return {"num_inputs": int(p["ih"]["kernel"].shape[0]),
          "hidden_size": int(p["hh"]["kernel"].shape[0]),
          "num_classes": int(p["readout"]["kernel"].shape[1])}


def rnn_from_params(params) -> ElmanRNN:
  s = rnn_sizes(params)
  return ElmanRNN(hidden_size=s["hidden_size"], num_classes=s["num_classes"])
