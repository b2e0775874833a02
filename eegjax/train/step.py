"""One optimiser step of the training program on a weighted minibatch (`train_step`), in
plain or training mode (BatchNorm statistics, dropout, max-norm: `trains_in_mode`), and the
epoch's shuffle (`shuffle_order`)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from eegjax.train.config import objective_loss


def _forward(model: nn.Module, params, x, lengths):
  if lengths is None:
    return model.apply(params, x)
  return model.apply(params, x, lengths=lengths)


def loss_fn(params, model, x, y, w, lengths, objective="classify"):
  return objective_loss(objective, _forward(model, params, x, lengths), x, y, w)


def trains_in_mode(model: nn.Module) -> bool:
  """Whether the model's `__call__` takes `train` (BatchNorm statistics, dropout): its
  training steps then run it with train=True, a "dropout" rng and its "batch_stats"
  mutable, and evaluation with train=False (the running statistics, no dropout)."""
  import inspect
  model = getattr(model, "model", model)        # eegjax.models.masked.Masked: the wrapped
  return "train" in inspect.signature(type(model).__call__).parameters


def _train_mode_loss(params, model, x, y, w, lengths, objective, rng):
  """The loss in training mode, and the updated collections (BatchNorm's running
  statistics). Every row of the batch enters BatchNorm's batch statistics, padding rows
  of a fold's last batch (weight 0) too; the loss counts only the weighted rows."""
  kw = {} if lengths is None else {"lengths": lengths}
  out, updated = model.apply(params, x, train=True, mutable=["batch_stats"],
                             rngs={"dropout": rng}, **kw)
  return objective_loss(objective, out, x, y, w), updated


def _train_mode_step(model, tx, params, opt_state, x, y, w, lengths, objective, rng):
  """One Adam step in training mode: gradients of the trainable "params" (the running
  statistics get none: Adam leaves a leaf with zero gradients as it is), the new running
  statistics, then the model's max-norm constraints (`model.max_norms`)."""
  (loss, updated), grads = jax.value_and_grad(_train_mode_loss, has_aux=True)(
      params, model, x, y, w, lengths, objective, rng)
  updates, new_opt = tx.update(grads, opt_state, params)
  new_params = {**optax.apply_updates(params, updates), **updated}
  norms = getattr(model, "max_norms", None)
  if norms:
    from eegjax.models.eegconv import apply_max_norm
    new_params["params"] = apply_max_norm(new_params["params"], norms)
  return new_params, new_opt, loss


def _select(cond, new, old):
  return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def train_step(model, tx, params, opt_state, x, y, w, lengths=None, may_be_empty=True,
               objective="classify", rng=None):
  """One Adam step on a weighted minibatch; a batch with no weight changes nothing (the
  check is left out when the caller knows no batch is empty). Returns (params, opt_state,
  loss). A model that `trains_in_mode` needs `rng` (its dropout key)."""
  if rng is not None:
    new_params, new_opt, loss = _train_mode_step(model, tx, params, opt_state, x, y, w,
                                                 lengths, objective, rng)
  else:
    loss, grads = jax.value_and_grad(loss_fn)(params, model, x, y, w, lengths, objective)
    updates, new_opt = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
  if not may_be_empty:
    return new_params, new_opt, loss
  keep = jnp.sum(w) > 0
  return _select(keep, new_params, params), _select(keep, new_opt, opt_state), loss


def shuffle_order(key, real) -> jax.Array:
  """A uniformly random order of the positions with `real` True, followed by the padding
  positions (which must all come after the real ones, as in FoldArrays).

  Sorting random keys is the shuffle; XLA's CPU sort is several times faster on one
  uint32 operand than on a (key, value) pair, so when the positions fit in `b` <= 12 bits
  the key is packed as (32 - b random bits | position). Ties in the random bits (rare:
  about n^2 / 2^(33-b) pairs per shuffle) keep position order. Padding gets all-ones
  random bits, so it sorts after every real position."""
  n = real.shape[0]
  bits = max(1, (n - 1).bit_length())
  if bits <= 12:
    low = jnp.uint32((1 << bits) - 1)
    r = jax.random.bits(key, (n,), jnp.uint32)
    r = jnp.where(real, r, jnp.uint32(0xFFFFFFFF))
    return (jnp.sort((r & ~low) | jnp.arange(n, dtype=jnp.uint32)) & low).astype(jnp.int32)
  u = jnp.where(real, jax.random.uniform(key, (n,)), 2.0)
  return jax.lax.sort_key_val(u, jnp.arange(n, dtype=jnp.int32))[1]
