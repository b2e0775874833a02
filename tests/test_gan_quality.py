"""The GAN quality figures against oracles: a "generator" that returns real training
images scores TSTR = TRTR, a two-sample accuracy near chance and a diversity ratio near 1;
a collapsed one (one image per class) scores a diversity ratio of 0 and is told apart."""

import jax
import numpy as np

from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.studies.gan_quality import Judge, diversity_ratio, mean_pairwise_distance, \
    outside_at_minus1
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
                    "trtr_accuracy/test", "two_sample_accuracy", "diversity_ratio",
                    "outside_at_minus1"}
  assert q["trtr_accuracy/test"].shape == (1, 2)
  assert (q["trtr_accuracy/test"] > 0.9).all()            # the classes are separable
  assert (np.abs(q["tstr_accuracy/test"] - q["trtr_accuracy/test"]) <= 0.1).all()
  assert (q["two_sample_accuracy"] < 0.7).all()
  assert (np.abs(q["diversity_ratio"] - 1.0) < 0.1).all()
  assert (q["outside_at_minus1"] == 1.0).all()


def test_a_collapsed_generator_is_caught():
  judge, folds, imgs, y, _ = _setup()

  def one_per_class(g, labels, key):
    return np.stack([imgs[int(c)] for c in labels])

  q = judge.measure(one_per_class, {"g": np.zeros((1, 1))}, folds, [0])
  assert q["diversity_ratio"][0, 0] < 1e-6
  assert q["two_sample_accuracy"][0, 0] > 0.9


def test_the_figures_by_hand():
  a = np.zeros((3, 2, 2, 1))
  a[1] += 3.0
  a[2] += 4.0
  # distances 6, 8, 2 (each image has 4 values)
  np.testing.assert_allclose(mean_pairwise_distance(a), (6 + 8 + 2) / 3)
  ones = np.ones((4, 2, 2, 1))
  assert diversity_ratio(ones, np.array([0, 0, 1, 1]), a[[0, 1, 0, 2]],
                         np.array([0, 0, 1, 1])) == 0.0
  inside = np.array([[True, False], [False, False]])
  img = np.full((2, 2, 2, 1), -1.0)
  img[0, 1, 1] = -0.5
  assert outside_at_minus1(img, inside) == 5 / 6
