"""The controls beside one-shot pruning (eegjax.studies.common.regimes): a masked network
trains as the cut network does, and prune_mlp's regimes keep predictions that are their
rows' (the labels in the order of the rows, every regime's accuracy recomputed from them)."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import flagsaver

from declared_groups import mlp_hidden_group
from eegjax.data import DataSpec, load
from eegjax.errors import ConfigError
from eegjax.models import MLP
from eegjax.models.masked import Masked, masked_variables, unmasked
from eegjax.pruning import remove_units, zero_units
from eegjax.studies.common import regimes
from eegjax.train.step import train_step

pytestmark = pytest.mark.numeric


def test_a_masked_network_trains_as_the_cut_network_and_its_dead_entries_stay_zero():
  """Five Adam steps of the 8-unit MLP with units 1, 4 and 6 masked give the 5-unit cut
  network's weights, outputs and losses, and every masked entry stays exactly 0."""
  model = MLP(hidden_sizes=(8,), num_classes=3)
  x = jax.random.normal(jax.random.key(0), (32, 5))
  y = jax.random.randint(jax.random.key(1), (32,), 0, 3)
  w = jnp.ones(32)
  params = model.init(jax.random.key(2), x)
  group = mlp_hidden_group(0)
  alive = jnp.array([True, False, True, True, False, True, False, True])
  ones = jax.tree.map(jnp.ones_like, params)
  mask = zero_units(ones, group, alive)["params"]
  keep = np.flatnonzero(np.asarray(alive))
  small = remove_units(params, group, keep)
  small_model = MLP(hidden_sizes=(5,), num_classes=3)
  tx = optax.adam(0.05)
  big = masked_variables(params, mask)
  opt_b, opt_s = tx.init(big), tx.init(small)
  masked = Masked(model)
  for _ in range(5):
    big, opt_b, loss_b = train_step(masked, tx, big, opt_b, x, y, w)
    small, opt_s, loss_s = train_step(small_model, tx, small, opt_s, x, y, w)
    np.testing.assert_allclose(loss_b, loss_s, rtol=1e-5)
  trained = unmasked(big)
  chex.assert_trees_all_close(remove_units(trained, group, keep), small, atol=1e-5)
  chex.assert_trees_all_close(model.apply(trained, x), small_model.apply(small, x),
                              atol=1e-5)
  for p, m in zip(jax.tree.leaves(big["params"]), jax.tree.leaves(mask)):
    assert np.all(np.asarray(p)[np.asarray(m) == 0] == 0.0)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), big["mask"], mask))


def test_bad_regime_settings_are_refused_in_one_line():
  for args, match in (((("finetune",), (50,), 5), "expected oneshot"),
                      ((("oneshot", "pruned"), (50,), 5), "--regimes=oneshot,pruned"),
                      ((("oneshot",), (50, 100), 5), "--regime_macs=50,100"),
                      ((("oneshot", "finetune"), (50,), 0), "--regime_epochs=0"),
                      ((("oneshot", "finetune"), (50,), 5, -1), "--regime_side_by_side=-1")):
    with pytest.raises(ConfigError, match=match):
      regimes.check(*args)


def test_a_fixed_side_by_side_that_does_not_fit_names_its_flag(monkeypatch):
  """--regime_side_by_side=N asks for N variants in one program; when the memory estimate
  says they do not fit, the run stops in one line naming the flag (not the seeds and folds,
  which the user did not change), while the default halves until half the memory holds them."""
  import types
  from eegjax.train import memory
  x = jnp.zeros((40, 5))
  prep = types.SimpleNamespace(parts=[0, 1], seeds=[0, 1, 2], data=(x, jnp.zeros(40), None))
  train_cfg = types.SimpleNamespace(batch_size=16, eval_batch_size=64)
  model = MLP(hidden_sizes=(8,), num_classes=3)
  one, _ = memory.check_sweep(model, prep.data, 6, 16, 64)         # one variant: 6 models
  monkeypatch.setattr(memory, "available_bytes", lambda: int(6.5 * one))
  fixed = types.SimpleNamespace(regime_side_by_side=12)
  with pytest.raises(ConfigError, match=r"--regime_side_by_side=12: 10 variants x 6 models "
                     r"side by side need about .* available\); expected fewer"):
    regimes._variants_that_fit(fixed, prep, model, train_cfg, 10)
  fixed.regime_side_by_side = 4
  assert regimes._variants_that_fit(fixed, prep, model, train_cfg, 10) == 4
  # by default: 10 -> 5 -> 3, the first whose twice the estimate fits
  auto = types.SimpleNamespace(regime_side_by_side=0)
  assert regimes._variants_that_fit(auto, prep, model, train_cfg, 10) == 3


FLAGS = dict(dataset="music_features", epochs=3, num_folds=3, num_seeds=2, split="group",
             hidden_sizes=["8"], max_pruned=6, criteria=["distinctiveness", "random"],
             compensation=["mean", "merge"], beyond_thresholds=True,
             regimes=["oneshot", "finetune", "scratch", "uniform"], regime_macs=["75", "25"],
             regime_epochs=2)


def test_a_side_by_side_the_memory_cannot_hold_stops_before_training(binary, tmp_path,
                                                                       capsys, monkeypatch):
  """prune_mlp with --regime_side_by_side=8 (its 2 criteria x 2 compensations x 2 levels
  fine-tuned side by side) on a machine whose memory holds none of it: one line naming the
  flag, before anything is trained (no checkpoint written), not after pruning."""
  from eegjax.train import memory
  monkeypatch.setattr(memory, "available_bytes", lambda: 2 ** 20)
  mod = binary("prune_mlp")
  wd = tmp_path / "refused"
  with flagsaver.flagsaver(workdir=str(wd), regime_side_by_side=8, **FLAGS):
    with pytest.raises(SystemExit) as stop:
      mod.main(["prune_mlp.py"])
  assert stop.value.code == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: --regime_side_by_side=8: 8 variants x "
                                             "6 models side by side need about "), err
  assert not (wd / "checkpoints").exists() or not any((wd / "checkpoints").iterdir())


def test_prune_mlp_regimes_declare_their_comparisons_and_keep_their_rows_predictions(
    binary, tmp_path):
  mod = binary("prune_mlp")
  wd = tmp_path / "regimes"
  # 3 variants side by side (--regime_side_by_side; by default as many as memory holds):
  # the 8 fine-tuned variants train in three parts (3, 3, 2), each its own checkpointed
  # run, and every row is still its own
  with flagsaver.flagsaver(workdir=str(wd), regime_side_by_side=3, **FLAGS):
    mod.main(["prune_mlp.py"])
  for f in ("regimes_macs.png", "regimes_params.png", "regimes_table.csv"):
    assert (wd / f).exists(), f
  res = json.loads((wd / "results.json").read_text())
  section = res["pruning"]["regimes"]
  assert section["costs"]["0"]["macs"] > section["levels"][0]["macs"]
  declared = json.loads((wd / "primary_comparisons.json").read_text())
  assert section["plan"] == declared
  # 2 levels x (oneshot, finetune vs scratch; distinctiveness vs random in each)
  assert len(declared["family"]) == 8
  assert [c["compare"] for c in section["comparisons"]["primary"]] == [
      c["compare"] for c in declared["family"]]
  holm = [c["accuracy"]["p_holm"] for c in section["comparisons"]["primary"]]
  raw = [c["accuracy"]["p"] for c in section["comparisons"]["primary"]]
  assert all(h >= p for h, p in zip(holm, raw))
  assert [lv["units_pruned"] for lv in section["levels"]] == [2, 6]
  # one hidden layer: the uniform network is the scratch network, not trained twice
  assert all(lv["uniform_widths"] == lv["widths"] for lv in section["levels"])
  assert all(r["same_as"] for r in section["rows"]["uniform"]["uniform"])

  pred = np.load(wd / "predictions.npz")
  labels, rows = pred["labels"], pred["rows"]
  y = np.asarray(load(DataSpec(dataset="music_features")).y)
  real = rows >= 0
  assert (labels[real] == y[rows[real]]).all()        # each label is its row's
  checked = 0
  for regime, by_name in section["rows"].items():
    for name, rs in by_name.items():
      for r in rs:
        if r.get("same_as"):
          continue
        key = (f"{name}/{r['units_pruned']}" if regime == "oneshot" else
               f"{regime}/{r['units_pruned']}" if name == regime else
               f"{regime}/{name}/{r['units_pruned']}")
        p = pred[key]
        acc = [[(p[f, s][real[f]] == labels[f][real[f]]).mean() for s in range(p.shape[1])]
               for f in range(p.shape[0])]
        np.testing.assert_allclose(np.asarray(acc), r["per_model"]["accuracy"], atol=1e-6)
        assert r["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(acc), abs=1e-6)
        checked += 1
  assert checked == 4 * 2 + 4 * 2 + 2     # oneshot, finetune (4 variants x 2 levels), scratch
  # the fine-tuned networks start from the pruned ones: pruning's own rows are untouched
  assert sorted(p.name for p in (wd / "checkpoints").iterdir() if "regime" in p.name) == [
      "regime-finetune-0-2", "regime-finetune-3-5", "regime-finetune-6-7", "regime-scratch"]
  # how many trained side by side (it sets the programs' float rounding) is recorded
  spent = json.loads((wd / "timing.json").read_text())["regimes_training"]
  assert (spent["finetune"]["variants"], spent["finetune"]["side_by_side"]) == (8, 3)
  assert spent["scratch"]["side_by_side"] == spent["scratch"]["variants"]
  table = (wd / "regimes_table.csv").read_text().splitlines()
  assert table[0].startswith("regime,criterion,compensation,level_percent")
  assert len(table) == 1 + checked + 2


def test_as_many_variants_train_at_once_as_the_memory_estimate_lets(monkeypatch):
  """Halving from all the variants until twice the estimate fits (here: 40 models at
  most, so parts of at most 20)."""
  import types
  from eegjax.train import memory
  monkeypatch.setattr(memory, "check_sweep", lambda model, data, n, *a, **k: (n, 40))
  monkeypatch.setattr(memory, "fits", lambda need, have: need <= have)
  prep = types.SimpleNamespace(parts=[0] * 5, seeds=[0], data=None)
  tc = types.SimpleNamespace(batch_size=32, eval_batch_size=64)
  model = Masked(MLP(hidden_sizes=(4,), num_classes=2))
  assert regimes._variants_that_fit(None, prep, model, tc, 27) == 4  # 27 -> 14 -> 7 -> 4
  assert regimes._variants_that_fit(None, prep, model, tc, 4) == 4
  monkeypatch.setattr(memory, "fits", lambda need, have: False)
  assert regimes._variants_that_fit(None, prep, model, tc, 27) == 1
