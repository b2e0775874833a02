import numpy as np
import pytest

from eegjax.evaluate.summary import summarize, t_quantile


@pytest.mark.parametrize("df, expected", [(1, 12.7062), (4, 2.7764), (9, 2.2622),
                                          (99, 1.9842)])
def test_t_quantiles_match_tables(df, expected):
  assert t_quantile(0.975, df) == pytest.approx(expected, abs=2e-4)


def test_summarize():
  s = summarize([0.8, 0.9, 1.0, 0.7])
  assert s["mean"] == pytest.approx(0.85)
  assert s["std"] == pytest.approx(np.std([0.8, 0.9, 1.0, 0.7], ddof=1))
  half = 3.1824 * s["std"] / 2
  assert s["ci95"] == pytest.approx([0.85 - half, 0.85 + half], abs=1e-4)
  assert summarize([0.5])["ci95"] == [0.5, 0.5]


def test_paired_without_correction_is_the_plain_paired_t_test():
  import scipy.stats
  from eegjax.evaluate.summary import paired
  rng = np.random.default_rng(0)
  a, b = rng.normal(0.8, 0.05, 12), rng.normal(0.78, 0.05, 12)
  out = paired(a - b, test_train_ratio=0.0)
  ref = scipy.stats.ttest_rel(a, b)
  assert out["t"] == pytest.approx(ref.statistic) and out["p"] == pytest.approx(ref.pvalue)
  assert out["n"] == 12 and "Nadeau" in out["method"]


def test_paired_correction_widens_the_interval_by_the_nadeau_bengio_factor():
  from eegjax.evaluate.summary import paired
  d = np.array([0.02, -0.01, 0.03, 0.04, 0.0, 0.01, 0.02, 0.05, -0.02, 0.03])
  plain, corrected = paired(d, 0.0), paired(d, 1.0 / 9.0)   # 10-fold: n_test/n_train = 1/9
  factor = np.sqrt((1 / 10 + 1 / 9) / (1 / 10))
  half = lambda s: (s["ci95"][1] - s["ci95"][0]) / 2  # noqa: E731
  assert half(corrected) == pytest.approx(factor * half(plain))
  assert corrected["t"] == pytest.approx(plain["t"] / factor)
  assert corrected["p"] > plain["p"]


def test_proportion_intervals_stay_inside_zero_one():
  from eegjax.evaluate.summary import summarize, summarize_metric
  acc = [1.0, 0.5, 1.0]          # 0.8333 [0.1162, 1.5504] as independent runs
  assert summarize(acc)["ci95"][1] > 1.0
  s = summarize_metric("accuracy", acc)
  assert s["ci95"][1] == 1.0 and s["ci95"][0] == pytest.approx(summarize(acc)["ci95"][0])
  assert summarize_metric("loss", [3.0, 0.1, 2.0])["ci95"][0] < 0   # not a proportion
