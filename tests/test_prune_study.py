"""End to end: prune_mlp.py's main() for two epochs, its files, and restoring a pruned
checkpoint with its smaller shapes."""

import csv
import dataclasses
import json

import chex
import jax
import numpy as np
import pytest
from absl.testing import flagsaver

from eegjax.data import DataSpec
from eegjax.errors import ConfigError
from eegjax.pruning.progressive import PruneConfig
from eegjax.studies.common import classifier as framework
from eegjax.studies.common.classifier import ClassifyConfig
from eegjax.studies.prune.study import PruneStudyConfig, restore_pruned
from eegjax.run.workdir import Workdir
from eegjax.train import TrainConfig, Trainer

FLAGS = dict(dataset="music_features", epochs=2, num_folds=3, num_seeds=2, split="group",
             hidden_sizes=["6"], max_pruned=4, criteria=["distinctiveness", "magnitude",
                                                         "random"], beyond_thresholds=True)


def classify_cfg(workdir):
  return ClassifyConfig(model="mlp", data=DataSpec(dataset="music_features"),
                        train=TrainConfig(epochs=2), workdir=str(workdir), hidden_sizes=(6,),
                        split="group", num_folds=3, num_seeds=2)


def test_prune_mlp_main_and_checkpoint_restore(binary, tmp_path, monkeypatch):
  mod = binary("prune_mlp")
  wd = tmp_path / "prune"
  # compiled once per study, whatever the width: the step once per criterion, the Gram
  # program once for all of them
  from eegjax.pruning import progressive
  from eegjax.pruning import sweep
  from eegjax.studies.common import pruned_layer
  monkeypatch.setattr(sweep, "prune_step",
                      chex.assert_max_traces(progressive.prune_step, n=3))
  traced = []

  class Counted(pruned_layer.Collector):
    def __call__(self, *a, **k):        # runs when the Gram program is traced
      traced.append(1)
      return super().__call__(*a, **k)

  monkeypatch.setattr(pruned_layer, "Collector", Counted)
  # one checkpoint block per curve however slow a busy machine makes it (the study's
  # blocks are ~20 s of pruning: a loaded CPU could close one after size 2)
  from eegjax.studies.prune import study
  monkeypatch.setattr(study, "SAVE_EVERY_S", 1e6)
  with flagsaver.flagsaver(workdir=str(wd), **FLAGS):
    mod.main(["prune_mlp.py"])
  assert len(traced) == 1
  for f in ("prune_table.csv", "results.json", "timing.json", "prune_metrics.png",
            "prune_min_angle.png", "prune_exec_time.png", "angles.png", "flags.cfg"):
    assert (wd / f).exists(), f
  rows = list(csv.DictReader(open(wd / "prune_table.csv")))
  assert [(r["criterion"], r["units_pruned"]) for r in rows] == [
      (c, str(n)) for c in ("distinctiveness", "magnitude", "random") for n in (0, 2, 4)]
  assert all(r["hidden_units"] == str(6 - int(r["units_pruned"])) for r in rows)
  base = [r["accuracy_mean"] for r in rows if r["units_pruned"] == "0"]
  assert len(set(base)) == 1                     # every criterion starts from the same nets
  res = json.loads((wd / "results.json").read_text())
  assert res["dataset"]["data"] == "synthetic" and "not findings" in res["dataset"]["note"]
  steps = res["pruning"]["criteria"]["distinctiveness/mean"]["steps"]
  assert "exec_ms" not in steps[0]               # timings are kept out of results.json
  actions = res["pruning"]["criteria"]["distinctiveness/mean"]["actions"]
  assert len(actions) == 2 and len(actions[0]["actions"]) == 3       # steps x folds
  assert all(len(a) == 2 for a in actions[0]["actions"][0])          # 2 units per step

  # the curve is one checkpoint block (sweep.run's save_every_s): sizes 0 and 2
  # ride in the checkpoint of size 4, and each one is restored with its own metadata
  from eegjax.run.checkpoints import Checkpoints
  assert Checkpoints(str(wd / "checkpoints" / "distinctiveness-mean")).steps() == [4]
  _, small2, meta2 = restore_pruned(str(wd), "distinctiveness", 2)
  assert meta2["units_pruned"] == 2 and meta2["hidden_sizes"] == [4]
  assert small2["params"]["Dense_0"]["kernel"].shape[-1] == 4
  model, params, meta = restore_pruned(str(wd), "distinctiveness", 4)
  assert meta["hidden_sizes"] == [2] and model.hidden_sizes == (2,)
  assert params["params"]["Dense_0"]["kernel"].shape == (3, 2, 25, 2)   # fold, seed, in, out
  prep = framework.prepare(classify_cfg(tmp_path / "again"), Workdir(
      str(tmp_path / "again"), echo=False))
  test = Trainer(model, TrainConfig(epochs=1), has_val=False).evaluate(
      params, prep.folds, prep.data, "test")
  np.testing.assert_allclose(test["accuracy"].mean(), steps[2]["summary"]["accuracy"]["mean"],
                             rtol=1e-6)
  with pytest.raises(ConfigError, match="no checkpoint for 3 pruned units"):
    restore_pruned(str(wd), "distinctiveness", 3)


def test_prune_config_errors(tmp_path):
  c = classify_cfg(tmp_path)
  with pytest.raises(ConfigError, match="--max_pruned=6: cannot prune that many units from a "
                                        "layer of 6"):
    PruneStudyConfig(classify=c, prune=PruneConfig(max_pruned=6))
  with pytest.raises(ConfigError, match="--prune_layer=1"):
    PruneStudyConfig(classify=c, layer=1)
  with pytest.raises(ConfigError, match="--criteria: 'size'"):
    PruneStudyConfig(classify=c, criteria=("size",))
  with pytest.raises(ConfigError, match="--compensation: 'refit' is not one of"):
    PruneStudyConfig(classify=c, compensations=("refit",))
  with pytest.raises(ConfigError, match="is now a removal option"):
    PruneStudyConfig(classify=c, criteria=("distinctiveness_masked",))
  with pytest.raises(ConfigError, match="--compensation=mean,mean names one twice"):
    PruneStudyConfig(classify=c, compensations=("mean", "mean"))
  assert PruneStudyConfig(classify=c, prune=PruneConfig(step=4)).limit == 4
  assert PruneStudyConfig(classify=c, prune=PruneConfig(max_pruned=3)).limit == 2


def test_finetuning_after_each_step(tmp_path):
  from eegjax.studies.prune import study as prune_study
  cfg = PruneStudyConfig(classify=classify_cfg(tmp_path / "ft"), criteria=("magnitude",),
                         prune=PruneConfig(max_pruned=2), finetune_epochs=3)
  res = prune_study.run(cfg)
  rows = list(csv.DictReader(open(tmp_path / "ft" / "prune_table.csv")))
  assert [r["units_pruned"] for r in rows] == ["0", "2"]
  assert rows[0]["finetuned_accuracy_mean"] == ""          # nothing pruned, nothing tuned
  tuned = float(rows[1]["finetuned_loss_mean"])
  assert np.isfinite(tuned) and tuned != float(rows[1]["loss_mean"])
  assert res["pruning"]["optimizer_state_after_pruning"].startswith("re-initialised")


def test_prune_rnn_main_compensations(binary, tmp_path):
  mod = binary("prune_rnn")
  wd = tmp_path / "rnn"
  with flagsaver.flagsaver(workdir=str(wd), dataset="eyes", channels=["O1"], epochs=2,
                           num_folds=2, hidden_sizes=["6"], max_pruned=2, grad_clip=1.0,
                           criteria=["distinctiveness", "random"],
                           compensation=["merge", "none"], beyond_thresholds=True):
    mod.main(["prune_rnn.py"])
  rows = list(csv.DictReader(open(wd / "prune_table.csv")))
  got = [(r["criterion"], r["compensation"], r["structure"], r["units_pruned"],
          r["hidden_units"]) for r in rows]
  assert got == [(c, m, "structural", str(n), str(6 - n))
                 for c in ("distinctiveness", "random")
                 for m in ("merge", "none") for n in (0, 2)]
  assert {r["grad_clip"] for r in rows} == {"1"}
  res = json.loads((wd / "results.json").read_text())
  assert res["study"] == "prune_rnn" and res["protocol"]["grad_clip"] == 1.0
  # each criterion is compared with distinctiveness under its own compensation
  paired = res["pruning"]["paired_vs_distinctiveness"]["metrics"]
  assert {d["reference"] for d in paired["random/none"]} == {"distinctiveness/none"}
  model, params, meta = restore_pruned(str(wd), "distinctiveness", 2, "merge")
  assert model.hidden_size == 4 and params["params"]["hh"]["kernel"].shape == (2, 1, 4, 4)
  assert meta["compensation"] == "merge"


@pytest.mark.slow     # ~25 s each; the cells' length masking and pruning exactness are
@pytest.mark.parametrize("cell", ["lstm", "gru"])     # fast tests (test_rnn, test_discover)
def test_prune_rnn_gated_cells_structural_and_masked(binary, tmp_path, cell):
  """--cell=gru|lstm trains flax cells and prunes them through discovered groups: the
  structural networks are smaller and equal their rebuilt module; with --masked they keep
  their size with the pruned units' every gate column zeroed."""
  mod = binary("prune_rnn")
  wd = tmp_path / cell
  with flagsaver.flagsaver(workdir=str(wd), dataset="eyes", channels=["O1"], epochs=2,
                           num_folds=2, hidden_sizes=["6"], max_pruned=2, cell=cell,
                           criteria=["distinctiveness"], compensation=["merge"],
                           beyond_thresholds=True):
    mod.main(["prune_rnn.py"])
  rows = list(csv.DictReader(open(wd / "prune_table.csv")))
  assert [(r["criterion"], r["hidden_units"]) for r in rows] == [
      ("distinctiveness", "6"), ("distinctiveness", "4")]
  masked = tmp_path / (cell + "_masked")
  with flagsaver.flagsaver(workdir=str(masked), dataset="eyes", channels=["O1"], epochs=2,
                           num_folds=2, hidden_sizes=["6"], max_pruned=2, cell=cell,
                           criteria=["distinctiveness"], compensation=["none"], masked=True,
                           beyond_thresholds=True):
    mod.main(["prune_rnn.py"])
  rows = list(csv.DictReader(open(masked / "prune_table.csv")))
  assert [(r["structure"], r["hidden_units"]) for r in rows] == [("masked", "6"),
                                                                 ("masked", "4")]
  res = json.loads((wd / "results.json").read_text())
  assert res["model"]["cell"] == cell and "--cell=" + cell in (wd / "flags.cfg").read_text()
  cell_name = {"gru": "GRUCell_0", "lstm": "LSTMCell_0"}[cell]
  model, params, _ = restore_pruned(str(wd), "distinctiveness", 2, "merge")
  assert model.hidden_size == 4 and model.cell == cell
  for gate in params["params"][cell_name].values():
    assert gate["kernel"].shape[-1] == 4
  model, params, meta = restore_pruned(str(masked), "distinctiveness", 2, "none", masked=True)
  assert model.hidden_size == 6 and meta["masked"]
  kernels = [np.asarray(g["kernel"][0, 0]) for g in params["params"][cell_name].values()]
  dead = np.flatnonzero(np.all([~k.any(axis=0) for k in kernels], axis=0))
  assert len(dead) == 2




@pytest.mark.numeric
def test_an_mlp_layers_statistics_are_the_trained_ones_with_the_dead_units_zeroed(tmp_path):
  """Programs.analysis computes an MLP layer's statistics once and zeroes the dead units'
  rows after each step: the numbers a recomputation over the training rows gives, under
  every compensation (each changes only the weights after the layer), for the inner
  layer of two (compensated in the next hidden layer) and the last (in the output)."""
  from eegjax.studies.common import pruned_layer
  c = dataclasses.replace(classify_cfg(tmp_path), hidden_sizes=(8, 6),
                          train=TrainConfig(epochs=3))
  prep = framework.prepare(c, Workdir(c.workdir, echo=False))
  keys = jax.random.key_data(pruned_layer.random_keys(prep.seeds, prep.folds.fold_id, 0))
  trained = None
  for layer in (0, 1):
    cfg = PruneStudyConfig(classify=c, layer=layer, criteria=("distinctiveness",),
                           compensations=("none", "mean", "least_squares", "merge"),
                           prune=PruneConfig(beyond_thresholds=True))
    prog = pruned_layer.Programs(cfg, prep)
    trained = trained or prog.trainer.fit(prep.seeds, prep.folds, prep.data,
                                          log=lambda m: None).params
    everyone = np.ones((3, 2, c.hidden_sizes[layer]), bool)
    assert prog.static_stats and prog.trained is None
    start = prog.analysis(trained, cfg.variants()[0], everyone)
    for pcfg in cfg.variants():
      params, alive = trained, everyone
      ids = np.broadcast_to(np.arange(c.hidden_sizes[layer]), alive.shape)
      pending = np.tile(np.float32([-1.0, 0.0]), (3, 2, 1))
      for _ in range(2):                        # two steps of two units
        params, _, alive, record, _ = prog.steps(cfg)[pcfg.label](
            params, ids, prog.analysis(params, pcfg, alive), keys, alive, pending)
        alive, pending = np.asarray(alive), record["pending"]
        derived, again = prog.analysis(params, pcfg, alive), prog.gram(params)
        assert (~alive).any() and not np.array_equal(derived["gram"], start["gram"])
        for k in ("gram", "mean", "var", "count"):
          np.testing.assert_array_equal(derived[k], again[k], err_msg=f"{pcfg.label} {k}")
