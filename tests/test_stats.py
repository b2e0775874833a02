"""The paired tests that fit each protocol (eegjax.evaluate.stats) and the report's use of
them: hand-computed statistics, no p of 0 from zero spread, Holm's adjustment, and the
pairing of each model with its own reference."""

import numpy as np
import pytest
import scipy.stats

from eegjax.evaluate import prune_tables, stats

# Numerically sensitive: CI runs this module again under XLA_FLAGS=--xla_cpu_max_isa=AVX2
pytestmark = pytest.mark.numeric


def test_corrected_t_is_the_plain_paired_t_test_without_correction():
  rng = np.random.default_rng(0)
  a, b = rng.normal(0.8, 0.05, 12), rng.normal(0.78, 0.05, 12)
  out = stats.corrected_t(a - b, test_train_ratio=0.0)
  ref = scipy.stats.ttest_rel(a, b)
  assert out["t"] == pytest.approx(ref.statistic) and out["p"] == pytest.approx(ref.pvalue)
  assert out["n"] == 12 and "Bouckaert" in out["method"]


def test_corrected_t_widens_the_interval_by_the_nadeau_bengio_factor():
  d = np.array([0.02, -0.01, 0.03, 0.04, 0.0, 0.01, 0.02, 0.05, -0.02, 0.03])
  plain, corrected = stats.corrected_t(d, 0.0), stats.corrected_t(d, 1.0 / 9.0)
  factor = np.sqrt((1 / 10 + 1 / 9) / (1 / 10))
  half = lambda s: (s["ci95"][1] - s["ci95"][0]) / 2  # noqa: E731
  assert half(corrected) == pytest.approx(factor * half(plain))
  assert corrected["t"] == pytest.approx(plain["t"] / factor)
  assert corrected["p"] > plain["p"]


def test_zero_spread_gives_no_p_rather_than_zero_or_one():
  for d in ([0.01] * 5, [0.0] * 5, [0.3]):
    out = stats.corrected_t(np.array(d), 0.25)
    assert np.isnan(out["p"]) and "no test" in out["note"]


def test_two_way_bootstrap_never_gives_zero_and_sees_the_row_sampling():
  # one row differs, the same way in every seed: the old t-test over seeds gave p = 0
  ref = np.ones((10, 50))
  a = ref.copy()
  a[:, 7] = 0.0
  out = stats.two_way_bootstrap(a, ref, np.ones(50))
  assert out["mean"] == pytest.approx(-0.02) and out["p"] > 0.5
  assert out["ci95"][0] < -0.02 < out["ci95"][1] <= 0.0
  same = stats.two_way_bootstrap(ref, ref, np.ones(50))
  assert same["p"] == 1.0 and same["ci95"] == [0.0, 0.0]
  # a large, consistent difference is significant, but p stays above 0
  b = np.zeros((10, 50))
  b[:, :10] = 1.0
  big = stats.two_way_bootstrap(ref, b, np.ones(50), b=2000)
  assert 0.0 < big["p"] <= 2.0 / 2001 and big["mean"] == pytest.approx(0.8)


def test_bootstrap_leaves_out_padding_rows():
  ref = np.zeros((3, 6))
  a = np.zeros((3, 6))
  a[:, 5] = 1.0                            # padding row: weight 0
  out = stats.two_way_bootstrap(a, ref, np.array([1, 1, 1, 1, 1, 0]))
  assert out["mean"] == 0.0 and out["n_rows"] == 5
  lo, hi = stats.bootstrap_interval(np.ones((3, 6)), np.ones(6))
  assert lo == hi == 1.0


def test_holm_by_hand():
  p = [0.01, 0.04, float("nan"), 0.03, 0.5]
  # m = 4: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.09, 0.09 (monotone), 0.5
  np.testing.assert_allclose(stats.holm(p), [0.04, 0.09, np.nan, 0.09, 0.5])
  assert np.isnan(stats.holm([np.nan])).all()


def _rows(criterion, compensation, per_model, predicted=None):
  rows = []
  for n, acc in per_model.items():
    r = {"criterion": criterion, "compensation": compensation, "units_pruned": n,
         "per_model": {"accuracy": np.asarray(acc), "f1": np.asarray(acc),
                       "loss": np.asarray(acc)}}
    if predicted is not None:
      r["predicted"] = predicted[n]
    rows.append(r)
  return {"rows": rows}


def test_paired_differences_pair_each_model_with_its_own_reference_per_compensation():
  """k-fold: per fold, seeds averaged, model (f, s) minus the reference's (f, s) -- not the
  reference's models in another order -- and each compensation against its own."""
  ref = np.array([[0.9, 0.5], [0.7, 0.6], [0.8, 0.4]])         # (folds, seeds)
  other = ref + np.array([[0.1, -0.1], [0.0, 0.2], [0.05, 0.05]])
  per_variant = {"distinctiveness/mean": _rows("distinctiveness", "mean", {2: ref}),
                 "magnitude/mean": _rows("magnitude", "mean", {2: other}),
                 "distinctiveness/none": _rows("distinctiveness", "none", {2: ref[::-1]}),
                 "magnitude/none": _rows("magnitude", "none", {2: other})}
  protocol = {"folds": 3, "test_train_ratio": 0.5, "labels": None}
  out = prune_tables.paired_differences(per_variant, protocol)
  d = out["magnitude/mean"][0]
  assert d["reference"] == "distinctiveness/mean"
  expected = stats.corrected_t([0.0, 0.1, 0.05], 0.5)
  assert d["accuracy"]["mean"] == pytest.approx(expected["mean"])
  assert d["accuracy"]["p"] == pytest.approx(expected["p"])
  assert out["magnitude/none"][0]["reference"] == "distinctiveness/none"
  assert out["magnitude/none"][0]["accuracy"]["p"] != pytest.approx(expected["p"])
  assert "distinctiveness/mean" not in out
  # Holm over the table's two comparisons
  ps = [out[v][0]["accuracy"]["p"] for v in ("magnitude/mean", "magnitude/none")]
  np.testing.assert_allclose([out[v][0]["accuracy"]["p_holm"] for v in
                              ("magnitude/mean", "magnitude/none")], stats.holm(ps))


def test_one_split_uses_the_rows():
  labels = np.array([[0, 1, 1, 0, -1]])                        # one padding row
  pred_ref = {0: np.array([[[0, 1, 1, 0, -1], [0, 1, 0, 0, -1]]])}
  pred = {0: np.array([[[0, 1, 0, 0, -1], [0, 0, 0, 0, -1]]])}
  per_variant = {"distinctiveness/mean": _rows("distinctiveness", "mean", {0: [[1.0, 0.75]]},
                                               pred_ref),
                 "random/mean": _rows("random", "mean", {0: [[0.75, 0.5]]}, pred)}
  protocol = {"folds": 1, "test_train_ratio": 0.5, "labels": labels}
  d = prune_tables.paired_differences(per_variant, protocol)["random/mean"][0]["accuracy"]
  assert d["mean"] == pytest.approx(-0.25) and d["n_rows"] == 4 and d["n_seeds"] == 2
  assert "bootstrap" in d["method"] and 0.0 < d["p"] <= 1.0


def test_results_markdown_is_the_readme_table_of_a_run():
  """The README's per-run pruning table from results.json: distinctiveness bold, each
  criterion's paired difference under its own compensation, p raw / Holm, n/a without a
  test (a JSON null)."""
  def steps(accs):
    return {"steps": [{"units_pruned": n, "summary": {"accuracy": {"mean": a}}}
                      for n, a in accs]}
  res = {"pruning": {"criteria": {
      "distinctiveness/none": steps([(0, 0.8), (2, 0.7)]),
      "random/none": steps([(0, 0.8), (2, 0.75)])},
      "paired_vs_distinctiveness": {"method": "a test", "metrics": {"random/none": [
          {"units_pruned": 0, "accuracy": {"mean": 0.0, "p": None, "p_holm": None}},
          {"units_pruned": 2, "accuracy": {"mean": 0.05, "p": 0.0123, "p_holm": 0.0246}}]}}}}
  md = prune_tables.results_markdown(res)
  assert "| none | 2 | **0.700** | 0.750 (+0.050, p 0.012 / 0.025) |" in md
  assert "| none | 0 | **0.800** | 0.800 (+0.000, p n/a) |" in md
  assert "raw / Holm over the run's 2 comparisons" in md
  assert "| none | 2 |" not in prune_tables.results_markdown(res, [0])
