"""The GAN's per-batch losses and confidences from the discriminator's outputs (the
AC-GAN terms documented in eegjax.train.gan_fit)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from eegjax.evaluate.metrics import cross_entropy
from eegjax.models.gan import split_outputs


def bce(logit, target: float, w):
  """Weighted mean binary cross-entropy of real/fake logits against a constant target."""
  loss = optax.sigmoid_binary_cross_entropy(logit, jnp.full_like(logit, target))
  return jnp.sum(loss * w) / jnp.maximum(jnp.sum(w), 1.0)


def _mean(v, w):
  return jnp.sum(v * w) / jnp.maximum(jnp.sum(w), 1.0)


def batch_terms(out_real, out_fake, y, y_fake, w, semi_supervised: bool) -> dict:
  """Every loss and confidence of one batch from the discriminator's outputs."""
  cls_r, adv_r = split_outputs(out_real, semi_supervised)
  cls_f, adv_f = split_outputs(out_fake, semi_supervised)
  d_adv = bce(adv_r, 1.0, w) + bce(adv_f, 0.0, w)
  ce_r, ce_f = cross_entropy(cls_r, y, w), cross_entropy(cls_f, y_fake, w)
  d_cls = ce_r if semi_supervised else 0.5 * (ce_r + ce_f)
  pr = jax.nn.softmax(cls_r)
  pf = jax.nn.softmax(cls_f)
  return {
      "D_cls": d_cls, "D_adv": d_adv, "D_total": d_adv + d_cls,
      "G": bce(adv_f, 1.0, w) + ce_f,
      "D_cls_real": _mean(jnp.take_along_axis(pr, y[:, None], 1)[:, 0], w),
      "D_cls_fake": _mean(jnp.take_along_axis(pf, y_fake[:, None], 1)[:, 0], w),
      "D_adv_real": _mean(jax.nn.sigmoid(adv_r), w),
      "D_adv_fake": _mean(jax.nn.sigmoid(adv_f), w),
      "accuracy": _mean((jnp.argmax(cls_r, -1) == y).astype(jnp.float32), w),
      "cls_real": ce_r,
  }
