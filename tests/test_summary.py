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


def test_proportion_intervals_stay_inside_zero_one():
  from eegjax.evaluate.summary import summarize, summarize_metric
  acc = [1.0, 0.5, 1.0]          # 0.8333 [0.1162, 1.5504] as independent runs
  assert summarize(acc)["ci95"][1] > 1.0
  s = summarize_metric("accuracy", acc)
  assert s["ci95"][1] == 1.0 and s["ci95"][0] == pytest.approx(summarize(acc)["ci95"][0])
  assert summarize_metric("loss", [3.0, 0.1, 2.0])["ci95"][0] < 0   # not a proportion
