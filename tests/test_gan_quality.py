"""The GAN quality figures against oracles: a "generator" that returns real training
images scores TSTR = TRTR, two-sample accuracies near chance and a spread ratio near 1 --
and a memorisation ratio of 0, which is what catches it; a collapsed one (one image per
class) scores a spread ratio of 0 and is told apart by both judges."""

import jax
import numpy as np
import pytest

from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.studies.gan.quality import (Judge, balanced_accuracy, mean_pairwise_distance,
                                       memorisation_ratio, outside_at_minus1, ridge_judge,
                                       spread_ratio)
from eegjax.train import make_fold_arrays
from eegjax.train.config import TrainConfig


def _setup(n=160, seed=0):
  rng = np.random.default_rng(seed)
  y = np.arange(n) % 2
  inside = np.zeros((32, 32), bool)
  inside[4:28, 4:28] = True
  base = np.array([0.3, -0.3]).reshape(2, 1, 1, 1) * np.ones((1, 1, 1, 3))
  imgs = np.clip(base[y] + 0.1 * rng.normal(size=(n, 32, 32, 3)), -1, 1).astype(np.float32)
  imgs[:, ~inside] = -1.0
  ds = make_dataset(np.zeros((n, 1)), y, ["a", "b"], DatasetInfo("t", "test", False))
  parts = [(np.arange(0, 100), np.arange(100, 120), np.arange(120, n))]
  folds = make_fold_arrays(ds, parts, normalize=False)

  def images(fa, part):
    idx = np.asarray(getattr(fa, f"{part}_idx"))[np.asarray(getattr(fa, f"{part}_w"))]
    return imgs[idx], y[idx]

  judge = Judge(images, inside, 2, (16,), "relu", TrainConfig(epochs=30, batch_size=16,
                                                               learning_rate=1e-3))
  return judge, folds, imgs, y, inside


def test_real_images_as_samples_score_like_real_ones():
  judge, folds, imgs, y, _ = _setup()
  train = np.arange(100)

  def resample(g, labels, key):       # a "generator" that returns real training images
    pick = jax.random.randint(key, (len(labels),), 0, 1000)
    return np.stack([imgs[train[y[train] == c][p % 50]] for c, p in zip(labels,
                                                                         np.asarray(pick))])

  q = judge.measure(resample, {"g": np.zeros((1, 2))}, folds, [0, 1], ("val", "test"))
  assert set(q) == {"tstr_accuracy/val", "tstr_accuracy/test", "trtr_accuracy/val",
                    "trtr_accuracy/test", "two_sample_accuracy", "two_sample_accuracy_low",
                    "two_sample_accuracy_high", "linear_two_sample_accuracy",
                    "linear_two_sample_accuracy_low", "linear_two_sample_accuracy_high",
                    "spread_ratio", "memorisation_ratio", "outside_at_minus1"}
  assert q["trtr_accuracy/test"].shape == (1, 2)
  assert (q["trtr_accuracy/test"] > 0.9).all()            # the classes are separable
  assert (np.abs(q["tstr_accuracy/test"] - q["trtr_accuracy/test"]) <= 0.1).all()
  assert (q["two_sample_accuracy"] < 0.7).all()
  assert (q["linear_two_sample_accuracy"] < 0.7).all()
  assert (q["two_sample_accuracy_low"] <= q["two_sample_accuracy"]).all()
  assert (q["two_sample_accuracy"] <= q["two_sample_accuracy_high"]).all()
  assert (np.abs(q["spread_ratio"] - 1.0) < 0.1).all()     # copies look "diverse" ...
  assert (q["memorisation_ratio"] < 1e-6).all()             # ... and are caught here
  assert (q["outside_at_minus1"] == 1.0).all()


def test_a_collapsed_generator_is_caught():
  judge, folds, imgs, y, _ = _setup()

  def one_per_class(g, labels, key):
    return np.stack([imgs[int(c)] for c in labels])

  q = judge.measure(one_per_class, {"g": np.zeros((1, 1))}, folds, [0])
  assert q["spread_ratio"][0, 0] < 1e-6
  assert q["two_sample_accuracy"][0, 0] > 0.9
  assert q["linear_two_sample_accuracy"][0, 0] > 0.9


def test_the_figures_by_hand():
  a = np.zeros((3, 2, 2, 1))
  a[1] += 3.0
  a[2] += 4.0
  # distances 6, 8, 2 (each image has 4 values)
  np.testing.assert_allclose(mean_pairwise_distance(a), (6 + 8 + 2) / 3)
  ones = np.ones((4, 2, 2, 1))
  assert spread_ratio(ones, np.array([0, 0, 1, 1]), a[[0, 1, 0, 2]],
                      np.array([0, 0, 1, 1])) == 0.0
  # memorisation: fakes at distance 1 from the training images, real test ones at 2
  train = np.zeros((2, 1, 1, 1))
  train[1] = 10.0
  assert memorisation_ratio(train + 1.0, train, train + 2.0) == pytest.approx(0.5)
  # balanced accuracy: 3/4 of the reals and 1/2 of the fakes right, each side weighs half
  acc, low, high = balanced_accuracy(np.array([0, 0, 0, 1, 1, 0]),
                                     np.array([0, 0, 0, 0, 1, 1]))
  assert acc == pytest.approx(0.625)
  half = 1.96 * np.sqrt((0.75 * 0.25 / 4 + 0.5 * 0.5 / 2) / 4)
  assert (low, high) == pytest.approx((0.625 - half, 1.0))      # kept inside [0, 1]


def test_the_ridge_judge_separates_what_differs_and_not_what_does_not():
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(60, 40)), rng.normal(size=(60, 40))
  b[:, :5] += 1.5                                   # a shift in five pixels
  x, y = np.concatenate([a[:40], b[:40]]), np.r_[np.zeros(40), np.ones(40)]
  test, test_y = np.concatenate([a[40:], b[40:]]), np.r_[np.zeros(20), np.ones(20)]
  assert balanced_accuracy(ridge_judge(x, y, test), test_y)[0] > 0.85
  same = rng.normal(size=(120, 40))
  pred = ridge_judge(same[:80], y, same[80:])
  assert abs(balanced_accuracy(pred, test_y)[0] - 0.5) < 0.2
  inside = np.array([[True, False], [False, False]])
  img = np.full((2, 2, 2, 1), -1.0)
  img[0, 1, 1] = -0.5
  assert outside_at_minus1(img, inside) == 5 / 6
