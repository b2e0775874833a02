"""Structural surgery on parameter pytrees: removing hidden units and merging one unit into
another, for any model that declares its hidden units as a `UnitGroup`.

A hidden unit is a set of slices across the pytree: its *incoming* slices (the weights and
bias that compute it) and its *outgoing* slices (the weights through which it acts). Removing
unit d deletes slice d on every listed axis. Merging unit d into unit k adds c times d's
outgoing slices to k's and, for the layer whose bias follows (`next_bias`), shifts that bias by
`centre * (1 - c) * outgoing[d]`, then removes d. Why: if d's centred activation is
c times k's, a_d = c a_k + centre (1 - c), so d's contribution a_d w_d equals
c a_k w_d + centre (1 - c) w_d. With c = 1 (the study's rule) there is no shift.

For an Elman RNN the recurrent kernel is on both sides (its columns compute a unit, its rows
carry the unit to the next step), so the same two functions serve dense layers and RNNs.
Paths name a leaf as (module, parameter), e.g. ("Dense_0", "kernel"), inside params["params"].
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from eegjax.errors import ConfigError

Slice = tuple[str, str, int]   # (module, parameter, axis)


@dataclasses.dataclass(frozen=True)
class UnitGroup:
  """The hidden units of one layer, as slices of the params pytree."""
  incoming: tuple[Slice, ...]
  outgoing: tuple[Slice, ...]
  next_bias: Optional[tuple[str, str]] = None   # bias fed by the first outgoing slice
  centre: float = 0.5                           # activation of a "silent" unit

  def size(self, params) -> int:
    module, name, axis = self.incoming[0]
    return int(_tree(params)[module][name].shape[axis])


def mlp_hidden_group(layer: int, activation: str = "sigmoid") -> UnitGroup:
  """Hidden layer `layer` of eegjax.models.MLP: Dense_i columns in, Dense_{i+1} rows out."""
  nxt = f"Dense_{layer + 1}"
  return UnitGroup(incoming=((f"Dense_{layer}", "kernel", 1), (f"Dense_{layer}", "bias", 0)),
                   outgoing=((nxt, "kernel", 0),), next_bias=(nxt, "bias"),
                   centre=0.5 if activation == "sigmoid" else 0.0)


def rnn_hidden_group() -> UnitGroup:
  """The hidden units of eegjax.models.ElmanRNN (tanh: centre 0)."""
  return UnitGroup(incoming=(("ih", "kernel", 1), ("ih", "bias", 0), ("hh", "kernel", 1)),
                   outgoing=(("readout", "kernel", 0), ("hh", "kernel", 0)),
                   next_bias=("readout", "bias"), centre=0.0)


def conv_channel_group(layer: int, params) -> UnitGroup:
  """The output channels of conv layer Conv_`layer` of eegjax.models.gan.Discriminator:
  kernel (last axis) and bias in; the next conv's kernel input channels (axis 2) out, or,
  after the last conv (global average pooling), the heads' kernel rows. Leaky ReLU: centre
  0, and no next-bias shift (the paper rule, c = 1, needs none)."""
  tree = _tree(params)
  convs = sorted(k for k in tree if k.startswith("Conv_"))
  if not 0 <= layer < len(convs):
    raise ConfigError(f"--prune_conv_layers: layer {layer} does not exist; the "
                      f"discriminator has conv layers 0..{len(convs) - 1}")
  incoming = ((f"Conv_{layer}", "kernel", 3), (f"Conv_{layer}", "bias", 0))
  if layer + 1 < len(convs):
    outgoing = ((f"Conv_{layer + 1}", "kernel", 2),)
  else:
    outgoing = tuple((h, "kernel", 0) for h in ("head", "cls_head", "adv_head") if h in tree)
  return UnitGroup(incoming=incoming, outgoing=outgoing, next_bias=None, centre=0.0)


def _tree(params):
  return params["params"] if "params" in params else params


def _rebuild(params, tree):
  return {**params, "params": tree} if "params" in params else tree


def _slices(group: UnitGroup):
  """Every (module, name, axis) to cut when removing units, each once."""
  seen, out = set(), []
  for s in group.incoming + group.outgoing:
    if s not in seen:
      seen.add(s)
      out.append(s)
  return out


def remove_units(params, group: UnitGroup, keep):
  """Keeps only units `keep` (int array, in the order given) of `group`. `keep` may be a
  traced array of static length, so this works under jit and vmap."""
  tree = jax.tree.map(lambda x: x, _tree(params))   # shallow copies of the dicts
  keep = jnp.asarray(keep)
  for module, name, axis in _slices(group):
    tree[module] = {**tree[module], name: jnp.take(tree[module][name], keep, axis=axis)}
  return _rebuild(params, tree)


def zero_units(params, group: UnitGroup, alive):
  """Masked removal: every slice of the units where `alive` is False is set to zero, and the
  layer keeps its size. With all of a unit's incoming weights and its bias at zero a tanh
  unit outputs 0, so the network computes what `remove_units` would give (for a sigmoid
  unit, which outputs 0.5, its outgoing weights are zeroed too, so the same holds)."""
  tree = jax.tree.map(lambda x: x, _tree(params))
  alive = jnp.asarray(alive)
  for module, name, axis in _slices(group):
    x = tree[module][name]
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    tree[module] = {**tree[module], name: x * alive.reshape(shape).astype(x.dtype)}
  return _rebuild(params, tree)


def drop_units(params, group: UnitGroup, drop: Sequence[int]):
  """Removes the listed units (host-side indices); a clear error if they do not exist or
  would leave the layer empty."""
  size = group.size(params)
  drop = sorted({int(d) for d in drop})
  if drop and (drop[0] < 0 or drop[-1] >= size):
    raise ConfigError(f"cannot prune units {drop}: the layer has units 0..{size - 1}")
  if len(drop) >= size:
    raise ConfigError(f"cannot prune {len(drop)} units from a layer of {size}: at least one "
                      "must remain")
  keep = [u for u in range(size) if u not in set(drop)]
  return remove_units(params, group, jnp.asarray(keep, jnp.int32))


def _add_slice(x, axis: int, k, d, c):
  """x with slice k along `axis` replaced by slice k + c * slice d."""
  moved = jnp.moveaxis(x, axis, 0)
  moved = moved.at[k].add(c * moved[d])
  return jnp.moveaxis(moved, 0, axis)


def merge_into(params, group: UnitGroup, d, k, c=1.0):
  """Folds unit d into unit k (outgoing[k] += c * outgoing[d]; next bias += centre (1 - c)
  outgoing[d]) without removing d; its outgoing slices are zeroed so d no longer acts.
  `remove_units` then deletes it. Works with traced d, k, c."""
  tree = jax.tree.map(lambda x: x, _tree(params))
  if group.next_bias is not None:
    module, name, axis = group.outgoing[0]
    w_d = jnp.take(tree[module][name], d, axis=axis)
    b_mod, b_name = group.next_bias
    tree[b_mod] = {**tree[b_mod],
                   b_name: tree[b_mod][b_name] + group.centre * (1.0 - c) * w_d}
  for module, name, axis in group.outgoing:
    w = _add_slice(tree[module][name], axis, k, d, c)
    moved = jnp.moveaxis(w, axis, 0).at[d].set(0.0)
    tree[module] = {**tree[module], name: jnp.moveaxis(moved, 0, axis)}
  return _rebuild(params, tree)


def merge_scale(acts, d, k, centre: float = 0.5, weights=None):
  """Least-squares c with (a_d - centre) ~ c (a_k - centre) over the patterns."""
  a = acts - centre
  if weights is not None:
    a = a * weights[:, None]
  ak, ad = a[:, k], a[:, d]
  denom = jnp.sum(ak * ak)
  return jnp.where(denom > 0, jnp.sum(ad * ak) / jnp.where(denom > 0, denom, 1.0), 0.0)
