"""Classification metrics, jit- and vmap-friendly, with per-example weights so padded
(masked) examples count for nothing.

Everything derives from the confusion matrix `cm[true, predicted]` (weighted counts).
Per-class precision, recall, specificity and F1 are one-vs-rest; an undefined ratio (a
zero denominator) is 0, as in scikit-learn's `zero_division=0`. Macro = unweighted mean
over classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

PER_CLASS = ("precision", "recall", "specificity", "f1")
SCALARS = ("loss", "accuracy", "precision", "recall", "specificity", "f1")


def cross_entropy(logits, labels, weights=None):
  """Weighted mean softmax cross-entropy (integer labels). One-hot form: no scatter."""
  onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
  per_example = optax.softmax_cross_entropy(logits, onehot)
  if weights is None:
    return per_example.mean()
  weights = weights.astype(logits.dtype)
  return jnp.sum(per_example * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def confusion_matrix(labels, predictions, num_classes: int, weights=None):
  """(C, C) weighted counts, rows = true class, columns = predicted class."""
  t = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  if weights is not None:
    t = t * weights.astype(jnp.float32)[:, None]
  p = jax.nn.one_hot(predictions, num_classes, dtype=jnp.float32)
  return t.T @ p


def _ratio(a, b):
  return jnp.where(b > 0, a / jnp.where(b > 0, b, 1.0), 0.0)


def from_confusion(cm) -> dict:
  """Accuracy and per-class / macro precision, recall, specificity, F1 from `cm`."""
  total = cm.sum()
  tp = jnp.diagonal(cm)
  fp = cm.sum(axis=0) - tp
  fn = cm.sum(axis=1) - tp
  tn = total - tp - fp - fn
  precision = _ratio(tp, tp + fp)
  recall = _ratio(tp, tp + fn)
  specificity = _ratio(tn, tn + fp)
  f1 = _ratio(2 * tp, 2 * tp + fp + fn)
  out = {"accuracy": _ratio(tp.sum(), total)}
  for name, v in zip(PER_CLASS, (precision, recall, specificity, f1)):
    out[name] = v.mean()
    out[f"{name}_per_class"] = v
  return out


def classification_metrics(logits, labels, weights=None) -> dict:
  """Loss, confusion matrix and every metric of `from_confusion` for one model."""
  cm = confusion_matrix(labels, jnp.argmax(logits, -1), logits.shape[-1], weights)
  return {"loss": cross_entropy(logits, labels, weights), "confusion": cm,
          **from_confusion(cm)}
