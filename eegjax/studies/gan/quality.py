"""How good a GAN's samples are, per (fold, seed) model, measured against the real images
of the same fold:

  tstr_accuracy        train on synthetic, test on real: the study's dense classifier
                       (--hidden_sizes, --activation, --learning_rate, --batch_size,
                       --classifier_epochs) trained only on generated images -- as many
                       per class as the model's real training part has -- and tested on the
                       real images of the part asked for (test, or validation for
                       --select_by=tstr)
  trtr_accuracy        the same classifier, same initialisation, trained on the real
                       training images instead: what TSTR is measured against
  two_sample_accuracy  the same architecture trained to tell the real training images
                       from as many generated ones, tested on the real test images against
                       FRESH_FAKES times as many fresh generated ones: balanced accuracy
                       (the mean of its accuracy on each side; 0.5: indistinguishable to
                       it), with each model's 95% binomial interval (_low, _high)
  linear_two_sample_accuracy  the same with a regularised linear judge (ridge
                       classifier on the pixels, its penalty chosen by leave-one-out error
                       on its training rows)
  spread_ratio         mode collapse: per class, the mean pairwise distance between
                       generated images over that between real training images (mean over
                       the classes; 1 = as spread as the real ones, near 0 = collapsed).
                       It cannot tell variety from copying: copies of the training images
                       score 1
  memorisation_ratio   copying: the median distance from a generated image to its
                       nearest real training image over the median distance from a real
                       test image to its nearest training image (about 1: as far from the
                       training images as new real trials are; near 0: copies)
  outside_at_minus1    the fraction of generated pixel values outside the head within
                       0.02 of -1 (real images: exactly -1 there)

The classifiers see an image as the values of its pixels inside the head (3 bands each),
min-max scaled with the statistics of the classifier's own training rows (as every
classifier of the project is); they train through the one training driver (fit.Trainer)
with no validation part, for a fixed number of epochs. Keys: a model's fakes come from
fold_in(its model key, _FAKES) and the classifiers start from fold_in(key(seed), fold), so
a rerun measures the same numbers.
"""

from __future__ import annotations

import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from eegjax.arrays import take
from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.evaluate.summary import summarize
from eegjax.models.mlp import MLP
from eegjax.train import make_fold_arrays
from eegjax.train.config import TrainConfig
from eegjax.train.driver import model_key
from eegjax.train.fit import Trainer
from eegjax.train.folds import scale_rows

QUALITY = ("tstr_accuracy", "trtr_accuracy", "two_sample_accuracy",
           "two_sample_accuracy_low", "two_sample_accuracy_high", "linear_two_sample_accuracy",
           "linear_two_sample_accuracy_low", "linear_two_sample_accuracy_high", "spread_ratio",
           "memorisation_ratio", "outside_at_minus1")
FRESH_FAKES = 4     # fresh generated images per real test image in the two-sample tests
RIDGE_PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)   # x the mean squared row norm
OUTSIDE_TOLERANCE = 0.02
METHOD = {
    "tstr_accuracy": "the study's dense classifier trained on generated images (the real "
                     "training part's classes and counts), accuracy on the real images of "
                     "the part named",
    "trtr_accuracy": "the same classifier and initialisation trained on the real training "
                     "images",
    "two_sample_accuracy": "the same architecture trained to tell the real training images "
                           "from as many generated ones; balanced accuracy on the real test "
                           f"images and {FRESH_FAKES}x as many fresh generated ones (0.5: "
                           "indistinguishable); _low/_high: each model's 95% binomial "
                           "interval (normal approximation of the two rates)",
    "linear_two_sample_accuracy": "the same with a ridge classifier on the pixels (penalty "
                                  "by leave-one-out error on its training rows)",
    "spread_ratio": "per class, mean pairwise Euclidean distance of generated images "
                    "over that of the real training images, mean over classes (copies of "
                    "the training images score 1)",
    "memorisation_ratio": "median distance of a generated image to its nearest real "
                          "training image over the median distance of a real test image "
                          "to its nearest training image (near 0: copies)",
    "outside_at_minus1": f"fraction of generated values outside the head within "
                         f"{OUTSIDE_TOLERANCE} of -1",
    "classifier_inputs": "the pixels inside the head, 3 bands, min-max scaled with the "
                         "classifier's training rows"}
_FAKES = 7          # fold_in tag of a model's key for the fakes the judge draws
_MAX_PER_CLASS = 256   # images per class for the pairwise distances


def _quiet(_msg: str) -> None:
  pass


def mean_pairwise_distance(images: np.ndarray) -> float:
  """Mean Euclidean distance between distinct images (N, ...), N >= 2."""
  flat = np.asarray(images, np.float64).reshape(len(images), -1)
  sq = (flat ** 2).sum(1)
  d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T, 0.0)
  n = len(flat)
  return float(np.sqrt(d2)[~np.eye(n, dtype=bool)].mean())


def spread_ratio(fake: np.ndarray, fake_y: np.ndarray, real: np.ndarray,
                 real_y: np.ndarray) -> float:
  """Per class, mean pairwise distance of the fakes over the real images' (classes with
  at least two of each), averaged over the classes."""
  ratios = []
  for c in np.unique(real_y):
    f, r = fake[fake_y == c][:_MAX_PER_CLASS], real[real_y == c][:_MAX_PER_CLASS]
    if len(f) >= 2 and len(r) >= 2:
      ratios.append(mean_pairwise_distance(f) / max(mean_pairwise_distance(r), 1e-12))
  return float(np.mean(ratios)) if ratios else float("nan")


def nearest_distances(queries: np.ndarray, pool: np.ndarray) -> np.ndarray:
  """Each query's Euclidean distance to its nearest image in `pool`."""
  q = np.asarray(queries, np.float64).reshape(len(queries), -1)
  p = np.asarray(pool, np.float64).reshape(len(pool), -1)
  d2 = (q ** 2).sum(1)[:, None] + (p ** 2).sum(1)[None, :] - 2.0 * q @ p.T
  return np.sqrt(np.maximum(d2, 0.0).min(axis=1))


def memorisation_ratio(fake: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
  """Median nearest-training distance of the fakes over that of the real test images."""
  return float(np.median(nearest_distances(fake, train))
               / max(np.median(nearest_distances(test, train)), 1e-12))


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float,
                                                                              float]:
  """(balanced accuracy, 95% low, high) of two-class predictions: the mean of the two
  classes' rates, its interval from their binomial variances (normal approximation)."""
  rates, var = [], 0.0
  for c in (0, 1):
    mine = labels == c
    r = float(np.mean(predicted[mine] == c))
    rates.append(r)
    var += r * (1.0 - r) / max(int(mine.sum()), 1) / 4.0
  acc, half = float(np.mean(rates)), 1.96 * float(np.sqrt(var))
  return acc, max(acc - half, 0.0), min(acc + half, 1.0)


def ridge_judge(train_x, train_y, test_x) -> np.ndarray:
  """A ridge classifier (targets +-1, an intercept, the penalty from RIDGE_PENALTIES by
  leave-one-out error, all in the dual: rows << pixels): the predicted class of each test
  row. Inputs min-max scaled with the training rows."""
  lo, hi = train_x.min(0), train_x.max(0)
  scale = np.where(hi > lo, hi - lo, 1.0)
  a = (np.asarray(train_x, np.float64) - lo) / scale
  b = (np.asarray(test_x, np.float64) - lo) / scale
  mean = a.mean(0)
  a, b = a - mean, b - mean
  t = np.where(np.asarray(train_y) > 0, 1.0, -1.0)
  k = a @ a.T
  vals, vecs = np.linalg.eigh(k)
  base = float(np.trace(k)) / len(k)
  best = None
  for pen in RIDGE_PENALTIES:
    lam = pen * base
    shrink = vals / (vals + lam)
    fit = vecs @ (shrink * (vecs.T @ (t - t.mean()))) + t.mean()
    hat = (vecs ** 2) @ shrink + 1.0 / len(t)
    loo = (t - fit) / np.maximum(1.0 - hat, 1e-9)
    err = float(np.mean(np.sign(t - loo) != t))
    if best is None or err < best[0]:
      best = (err, lam)
  alpha = vecs @ ((vecs.T @ (t - t.mean())) / (vals + best[1]))
  return (b @ (a.T @ alpha) + t.mean() > 0).astype(np.int32)


def outside_at_minus1(fake: np.ndarray, inside: np.ndarray) -> float:
  """The fraction of generated values outside the head within OUTSIDE_TOLERANCE of -1."""
  out = np.asarray(fake)[:, ~np.asarray(inside)]
  return float(np.mean(np.abs(out + 1.0) <= OUTSIDE_TOLERANCE)) if out.size else 1.0


class Judge:
  """Measures generators against the real images of their folds (see the module's
  docstring). Built once per study; `trtr` is computed once and shared by every variant."""

  def __init__(self, images: Callable, inside: np.ndarray, num_classes: int, hidden_sizes,
               activation: str, train: TrainConfig):
    """images(fold arrays of one fold, part) -> (real images, labels) of that part;
    train: the classifiers' optimiser, batch size and epochs."""
    self.images = images
    self.inside = np.asarray(inside, bool)
    self.classifier = Trainer(MLP(hidden_sizes=tuple(hidden_sizes), num_classes=num_classes,
                                  activation=activation), train, has_val=False)
    self.separator = Trainer(MLP(hidden_sizes=tuple(hidden_sizes), num_classes=2,
                                 activation=activation), train, has_val=False)
    self._trtr: dict = {}

  # -- the classifiers ------------------------------------------------------------------
  def _rows(self, imgs) -> np.ndarray:
    """Images -> rows of their inside-the-head values."""
    return np.asarray(imgs)[:, self.inside].reshape(len(imgs), -1).astype(np.float32)

  def _fit_and_test(self, trainer: Trainer, seed: int, fold: int, train_x, train_y,
                    tests: dict, predictions: bool = False) -> dict:
    """Trains `trainer`'s classifier on (train_x, train_y) from the key of (seed, fold);
    accuracy on each of `tests` {name: (x, y)} (`predictions`: each row's predicted
    class instead)."""
    xs = [self._rows(train_x)] + [self._rows(x) for x, _ in tests.values()]
    ys = [np.asarray(train_y)] + [np.asarray(y) for _, y in tests.values()]
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.int32)
    ds = make_dataset(x, y, [str(c) for c in range(int(trainer.model.num_classes))],
                      DatasetInfo(name="GAN quality rows", source="generated and real "
                                  "images", real=False))
    bounds = np.cumsum([0] + [len(a) for a in xs])
    out = {}
    params = None
    for i, name in enumerate(tests):
      test_rows = np.arange(bounds[i + 1], bounds[i + 2])
      folds = make_fold_arrays(ds, [(np.arange(bounds[1]), np.zeros(0, np.int64),
                                     test_rows)])
      folds = folds._replace(fold_id=np.array([fold], np.int32))
      data = (jnp.asarray(ds.x), jnp.asarray(ds.y), None)
      if params is None:
        params = trainer.fit([seed], folds, data, log=_quiet).state.params
      got = trainer.evaluate(params, folds, data, "test", predictions=predictions)
      out[name] = (np.asarray(got["predicted"])[0, 0][:len(test_rows)] if predictions else
                   float(np.asarray(got["accuracy"])[0, 0]))
    return out

  def trtr(self, folds, seeds, parts=("test",)) -> dict:
    """{part: (F, S) accuracy of the classifier trained on the real training images}."""
    n_f = len(np.asarray(folds.fold_id))
    out = {p: np.zeros((n_f, len(seeds))) for p in parts}
    for f in range(n_f):
      fa = take(folds, f)
      for s, seed in enumerate(seeds):
        key = (f, int(seed), parts)
        if key not in self._trtr:
          x, y = self.images(fa, "train")
          self._trtr[key] = self._fit_and_test(self.classifier, int(seed), f, x, y,
                                               {p: self.images(fa, p) for p in parts})
        for p in parts:
          out[p][f, s] = self._trtr[key][p]
    return out

  def measure(self, generate: Callable, g_params, folds, seeds, parts=("test",)) -> dict:
    """Every quality figure of every (fold, seed) generator in g_params (leading axes
    F, S; generate(params of one, labels, key) -> images): {name: (F, S)}, TSTR and TRTR
    per part as tstr_accuracy/<part>."""
    n_f = len(np.asarray(folds.fold_id))
    res = {f"{m}/{p}": np.zeros((n_f, len(seeds))) for m in ("tstr_accuracy",
                                                             "trtr_accuracy") for p in parts}
    for m in QUALITY[2:]:
      res[m] = np.zeros((n_f, len(seeds)))
    trtr = self.trtr(folds, seeds, parts)
    for f in range(n_f):
      fa = take(folds, f)
      real_x, real_y = (np.asarray(a) for a in self.images(fa, "train"))
      test_x, test_y = (np.asarray(a) for a in self.images(fa, "test"))
      for s, seed in enumerate(seeds):
        g_one = take(g_params, f, s)
        key = jax.random.fold_in(model_key(jnp.uint32(int(seed)), f), _FAKES)
        fake = np.asarray(generate(g_one, real_y, jax.random.fold_in(key, 0)))
        tstr = self._fit_and_test(self.classifier, int(seed), f, fake, real_y,
                                  {p: self.images(fa, p) for p in parts})
        for p in parts:
          res[f"tstr_accuracy/{p}"][f, s] = tstr[p]
          res[f"trtr_accuracy/{p}"][f, s] = trtr[p][f, s]
        fresh = np.asarray(generate(g_one, np.tile(test_y, FRESH_FAKES),
                                    jax.random.fold_in(key, 1)))
        self._two_sample(res, (f, s), int(seed), real_x, fake, test_x, fresh)
        res["spread_ratio"][f, s] = spread_ratio(fake, real_y, real_x, real_y)
        res["memorisation_ratio"][f, s] = memorisation_ratio(fake, real_x, test_x)
        res["outside_at_minus1"][f, s] = outside_at_minus1(fake, self.inside)
    return res

  def _two_sample(self, res: dict, at, seed: int, real_x, fake, test_x, fresh) -> None:
    """The MLP and the linear judge, trained on real training images against as many
    fakes, tested on the real test images against FRESH_FAKES times as many fresh ones:
    balanced accuracy and each model's binomial interval into res[...][at]."""
    train_x = np.concatenate([real_x, fake])
    train_y = np.r_[np.zeros(len(real_x)), np.ones(len(fake))].astype(np.int32)
    test_all = np.concatenate([test_x, fresh])
    test_y = np.r_[np.zeros(len(test_x)), np.ones(len(fresh))].astype(np.int32)
    mlp = self._fit_and_test(self.separator, seed, at[0], train_x, train_y,
                             {"test": (test_all, test_y)}, predictions=True)["test"]
    linear = ridge_judge(self._rows(train_x), train_y, self._rows(test_all))
    for name, pred in (("two_sample_accuracy", mlp), ("linear_two_sample_accuracy", linear)):
      acc, low, high = balanced_accuracy(np.asarray(pred), test_y)
      res[name][at], res[f"{name}_low"][at], res[f"{name}_high"][at] = acc, low, high


def real_images(to_images: Callable, data) -> Callable:
  """images(fold arrays of one fold, part) -> (images, labels) of that part's real rows,
  scaled with the fold's training statistics (as the GANs see them)."""
  def images(fa, part: str):
    idx = np.asarray(getattr(fa, f"{part}_idx"))[np.asarray(getattr(fa, f"{part}_w"))]
    x, y, _ = scale_rows((*data, None), jnp.asarray(idx), fa.lo, fa.scale)
    return np.asarray(to_images(x)), np.asarray(y)
  return images


def summary(q: dict) -> dict:
  """Mean and 95% interval over the models of each figure (accuracies and fractions
  clipped to [0, 1])."""
  return {k: summarize(v, None if k.endswith("_ratio") else (0.0, 1.0))
          for k, v in q.items()}


def line(q: dict, part: str = "test") -> str:
  """One log line: the means over the models."""
  m = {k: float(np.mean(v)) for k, v in q.items()}
  return (f"TSTR {m[f'tstr_accuracy/{part}']:.3f} vs TRTR {m[f'trtr_accuracy/{part}']:.3f} "
          f"({part})  two-sample {m['two_sample_accuracy']:.3f} (linear "
          f"{m['linear_two_sample_accuracy']:.3f})  spread ratio {m['spread_ratio']:.3f}  "
          f"memorisation ratio {m['memorisation_ratio']:.3f}  outside the head at -1 "
          f"{m['outside_at_minus1']:.3f}")


class EpochQuality:
  """The quality of one variant's current generators at chosen epochs, kept in the
  workdir (quality_<variant>.json) so a resumed run still has the epochs measured before
  its interruption; and of its best generators once trained (`best`)."""

  def __init__(self, wd, variant: str, judge: Judge, parts):
    self.wd, self.name, self.judge, self.parts = wd, f"quality_{variant}.json", judge, parts
    self.by_epoch: dict = {}
    if os.path.exists(wd.file(self.name)):
      self.by_epoch = {int(e): {k: np.asarray(v) for k, v in q.items()}
                       for e, q in wd.read_json(self.name).items()}

  def measure(self, generate, g_params, folds, seeds) -> dict:
    return self.judge.measure(generate, g_params, folds, seeds, self.parts)

  def best(self, generate, g_params, folds, seeds) -> dict:
    """The quality of the trained variant's best generators (`g_params`), measured once:
    kept in quality_<variant>_best.json, so a rerun after training (stopped while pruning
    or writing the results) reads it instead of measuring again. Its figures are float64
    arrays, which JSON keeps exactly."""
    name = self.name.replace(".json", "_best.json")
    if os.path.exists(self.wd.file(name)):
      return {k: np.asarray(v, np.float64) for k, v in self.wd.read_json(name).items()}
    q = self.measure(generate, g_params, folds, seeds)
    self.wd.write_json(name, q)
    return q

  def record(self, epoch: int, q: dict) -> None:
    """Keeps epoch's figures (call after whatever depends on them is saved: a resumed run
    does not measure a recorded epoch again)."""
    self.by_epoch[epoch] = q
    self.wd.write_json(self.name, {str(e): v for e, v in sorted(self.by_epoch.items())})


def choose_by_tstr(store, chosen: dict, state, score, epoch: int,
                   variant: str) -> None:
  """--select_by=tstr: each model keeps the generator and discriminator of its measured
  epoch with the highest TSTR accuracy on the validation part, the later on a tie (the
  validation part is a few subjects, so its accuracy takes few values and ties are common;
  the later generator has trained longer, and on the synthetic twin its samples were the
  harder to tell from real ones), saved in checkpoints/<variant>/best_tstr whenever one is
  chosen."""
  if "models" not in chosen and store.steps():
    _, chosen["models"], _ = store.restore_latest(
        {"g": state.g_avg, "d": state.d, "best_epoch": state.best_epoch,
         "score": np.zeros(np.shape(score))})
  old = chosen.get("models")
  better = (np.asarray(score) >= np.asarray(old["score"]) if old is not None else
            np.ones(np.shape(score), bool))
  if not better.any():
    return
  pick = lambda new, prev: jax.tree.map(  # noqa: E731
      lambda a, b: np.where(better.reshape(better.shape + (1,) * (np.ndim(a) - 2)), a, b),
      new, prev)
  now = {"g": state.g_avg, "d": state.d,
         "best_epoch": np.full(np.shape(score), epoch - 1, np.int32),
         "score": np.asarray(score, np.float64)}
  chosen["models"] = now if old is None else pick(now, old)
  store.save(epoch, chosen["models"], {"variant": variant, "epoch": epoch,
                                       "selected_by": "TSTR accuracy on validation",
                                       "leading_axes": ["fold", "seed"]})
