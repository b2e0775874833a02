import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eegjax.evaluate.metrics import (classification_metrics, confusion_matrix,
                                     cross_entropy, from_confusion)

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def test_confusion_and_metrics_hand_computed():
  y_true = jnp.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
  y_pred = jnp.array([0, 0, 1, 1, 2, 2, 2, 0, 2])
  cm = confusion_matrix(y_true, y_pred, 3)
  np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [1, 0, 3]])
  m = from_confusion(cm)
  # class 0: tp 2 fp 1 fn 1 tn 5; class 1: tp 1 fp 1 fn 1 tn 6; class 2: tp 3 fp 1 fn 1 tn 4
  np.testing.assert_allclose(m["accuracy"], 6 / 9)
  np.testing.assert_allclose(m["precision_per_class"], [2 / 3, 1 / 2, 3 / 4], rtol=1e-6)
  np.testing.assert_allclose(m["recall_per_class"], [2 / 3, 1 / 2, 3 / 4], rtol=1e-6)
  np.testing.assert_allclose(m["specificity_per_class"], [5 / 6, 6 / 7, 4 / 5], rtol=1e-6)
  np.testing.assert_allclose(m["f1_per_class"], [2 / 3, 1 / 2, 3 / 4], rtol=1e-6)
  np.testing.assert_allclose(m["precision"], np.mean([2 / 3, 1 / 2, 3 / 4]), rtol=1e-6)


def test_asymmetric_precision_recall_and_zero_division():
  cm = jnp.array([[3.0, 1.0], [0.0, 0.0]])          # class 1 never true, predicted once
  m = from_confusion(cm)
  np.testing.assert_allclose(m["precision_per_class"], [1.0, 0.0])
  np.testing.assert_allclose(m["recall_per_class"], [0.75, 0.0])
  np.testing.assert_allclose(m["specificity_per_class"], [0.0, 0.75])
  np.testing.assert_allclose(m["f1_per_class"], [6 / 7, 0.0], rtol=1e-6)


def test_weights_mask_padding_and_vmap():
  logits = jax.random.normal(jax.random.key(0), (2, 6, 3))
  labels = jnp.array([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0, 0]])
  w = jnp.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
  batched = jax.jit(jax.vmap(classification_metrics))(logits, labels, w)
  alone = classification_metrics(logits[0, :4], labels[0, :4])
  chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], batched), alone, atol=1e-6)
  ref = optax.softmax_cross_entropy_with_integer_labels(logits[0, :4], labels[0, :4]).mean()
  np.testing.assert_allclose(cross_entropy(logits[0], labels[0], w[0]), ref, rtol=1e-6)
