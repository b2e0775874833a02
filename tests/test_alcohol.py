"""The alcoholism study (eegjax.studies.alcohol): the classifier on frozen autoencoder codes,
the autoencoder's folds, and both binaries end to end on SMNI files in the real format,
including a run killed mid-pruning that resumes to the same results."""

import csv
import json
import os

import chex
import jax
import numpy as np
import pytest
from absl.testing import flagsaver

from conftest import REPO
from eegjax.data import DataSpec
from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.data.splits import group_kfold
from eegjax.data.synthetic import smni_trials, write_smni_files
from eegjax.errors import ConfigError
from eegjax.pruning.progressive import PruneConfig
from eegjax.models import BandAutoencoder, CodeClassifier, count_params
from eegjax.studies.alcohol.study import AlcoholConfig, autoencoder_folds
from eegjax.studies.common.classifier import ClassifyConfig, Prepared
from eegjax.train import TrainConfig, Trainer, carve_validation, device_data, make_fold_arrays


def _features(num_subjects=8, trials=6):
  rng = np.random.default_rng(0)
  n = num_subjects * trials
  y = np.repeat(np.arange(num_subjects) % 2, trials)
  x = rng.normal(size=(n, 192)) + 0.8 * y[:, None] * (np.arange(192) % 3 == 1)
  info = DatasetInfo(name="bands", source="test", real=False)
  return make_dataset(x.astype(np.float32), y, ("control", "alcoholic"), info,
                      groups=np.repeat(np.arange(num_subjects), trials))


def test_classifier_on_codes_trains_its_head_and_keeps_the_encoder():
  ds = _features()
  folds = make_fold_arrays(ds, carve_validation(ds, group_kfold(ds.groups, 4, seed=0), 0.0))
  data = device_data(ds)
  ae = BandAutoencoder()
  ae_fit = Trainer(ae, TrainConfig(epochs=3, objective="reconstruct"), has_val=False).fit(
      [0, 1], folds, data, log=lambda m: None)
  clf = CodeClassifier(ae, (8, 4), 2)
  trainer = Trainer(clf, TrainConfig(epochs=20, learning_rate=0.01), has_val=False)
  fresh = trainer.init([0, 1], folds, data).params["params"]
  encoder = {k: v for k, v in ae_fit.params["params"].items() if k.startswith("encoder")}
  start = {"params": {**fresh, "autoencoder": encoder}}
  fit = trainer.fit([0, 1], folds, data, state=trainer.start_from(start), log=lambda m: None)
  chex.assert_trees_all_equal(fit.params["params"]["autoencoder"], encoder)
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()),
                       fit.params["params"]["head"], fresh["head"])
  assert min(jax.tree.leaves(moved)) > 0
  assert fit.train_loss[..., -1].mean() < fit.train_loss[..., 0].mean()
  # the deployed form on stored codes gives the same logits as the whole model
  one = jax.tree.map(lambda a: a[0, 0], fit.params)
  x = np.asarray(data[0][:5] - folds.lo[0]) / folds.scale[0]
  codes = clf.apply(one, x, method=CodeClassifier.codes)
  assert codes.shape == (5, 48)
  chex.assert_trees_all_close(clf.apply(one, codes, method=CodeClassifier.classify_codes),
                              clf.apply(one, x), atol=1e-6)
  assert count_params(one["params"]["head"]) == 48 * 8 + 8 + 8 * 4 + 4 + 4 * 2 + 2


def test_autoencoder_folds_carve_validation_from_training_rows_only():
  ds = _features()
  splits = group_kfold(ds.groups, 4, seed=0)
  parts = carve_validation(ds, splits, 0.0)
  folds = make_fold_arrays(ds, parts)
  prep = Prepared(raw=ds, ds=ds, inputs="", split_kind="group", parts=parts, folds=folds,
                  data=None, seeds=[0], model=None)
  ae = autoencoder_folds(prep, 0.25, seed=0)
  for f, (tr, _, te) in enumerate(parts):
    a_tr = ae.train_idx[f][ae.train_w[f]]
    a_va = ae.val_idx[f][ae.val_w[f]]
    assert len(a_va) > 0 and not np.intersect1d(a_tr, a_va).size
    np.testing.assert_array_equal(np.sort(np.concatenate([a_tr, a_va])), np.sort(tr))
    np.testing.assert_array_equal(np.sort(ae.test_idx[f][ae.test_w[f]]), np.sort(te))
    # validation by whole subjects
    assert not np.intersect1d(ds.groups[a_tr], ds.groups[a_va]).size
  np.testing.assert_array_equal(ae.lo, folds.lo)        # the classifier's scaling
  np.testing.assert_array_equal(ae.scale, folds.scale)
  assert autoencoder_folds(prep, 0.0, seed=0) is folds


def _classify(**kw):
  base = dict(model="mlp", data=DataSpec(dataset="smni_synthetic"),
              train=TrainConfig(epochs=2), workdir="w", hidden_sizes=(16, 8),
              activation="relu", inputs="band_power")
  return ClassifyConfig(**{**base, **kw})


@pytest.mark.parametrize("kw,message", [
    (dict(approaches=()), "--approaches is empty"),
    (dict(approaches=("direct", "bogus")), "'bogus' is not one of"),
    (dict(approaches=("direct", "direct")), "names one twice"),
    (dict(prune_layers=(2,)), "layer 2 does not exist"),
    (dict(code_hidden_sizes=()), "--code_hidden_sizes=[]"),
    (dict(prune=dict(similar_deg=170.0)),
     "--similar_deg=170.0 --complementary_deg=165.0"),
    (dict(ae_val_fraction=1.0), "--ae_val_fraction=1.0"),
])
def test_config_errors_name_the_flag(kw, message):
  with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
    if "prune" in kw:   # the pruning thresholds are checked once, by PruneConfig
      kw = dict(kw, prune=PruneConfig(**kw["prune"]))
    AlcoholConfig(classify=_classify(), **kw)


def test_codes_need_band_power_inputs():
  with pytest.raises(ConfigError, match="--approaches=codes needs --inputs=band_power"):
    AlcoholConfig(classify=_classify(inputs="features"), approaches=("codes",))


SMALL = dict(hidden_sizes=["24", "12"], epochs=6, learning_rate=0.005, ae_epochs=6,
             code_hidden_sizes=["8", "4"], code_epochs=6, num_seeds=2, num_devices=2,
             epochs_per_call=3)


def _write_files(tmp_path):
  files = tmp_path / "smni"
  write_smni_files(str(files), smni_trials(3, num_subjects=10, trials_per_subject=6),
                   layout="folders", gz=True)
  return files


def _read_csv(path):
  return list(csv.DictReader(open(path)))


@pytest.mark.slow
def test_compress_alcohol_on_a_directory_of_smni_files(binary, tmp_path):
  files = _write_files(tmp_path)
  wd = tmp_path / "ae"
  mod = binary("compress_alcohol")
  with flagsaver.flagsaver(data_path=str(files), workdir=str(wd), **SMALL):
    mod.main(["compress_alcohol.py"])
  for f in ("comparison.csv", "comparison.md", "comparison.png", "reconstruction.png",
            "prune_table.csv", "results.json", "timing.json", "history.npz", "log.txt",
            "flags.cfg"):
    assert (wd / f).exists(), f
  res = json.loads((wd / "results.json").read_text())
  assert res["dataset"]["num_examples"] == 60 and res["dataset"]["data"] == "real"
  assert list(res["approaches"]) == ["direct", "codes", "pruned"]
  rows = _read_csv(wd / "comparison.csv")
  assert [r["approach"] for r in rows] == ["direct", "codes", "pruned"]
  by = {r["approach"]: r for r in rows}
  assert {r["dataset"] for r in rows} == {res["dataset"]["name"]}
  assert {r["data"] for r in rows} == {"real"}   # user files are taken as recorded EEG
  for r in rows:
    assert int(r["models"]) == 2
    assert float(r["accuracy_ci_low"]) <= float(r["accuracy_mean"]) <= float(
        r["accuracy_ci_high"])
    assert 0 <= float(r["accuracy_mean"]) <= 1
    assert float(r["inference_ms"]) > 0 and float(r["train_s"]) > 0
  assert by["direct"]["input_floats_per_trial"] == "192"
  assert by["codes"]["input_floats_per_trial"] == "48"
  assert float(by["codes"]["inputs_kib"]) == pytest.approx(60 * 48 * 4 / 1024)
  assert int(by["direct"]["params"]) == 192 * 24 + 24 + 24 * 12 + 12 + 12 * 2 + 2
  assert int(by["codes"]["params"]) == 48 * 8 + 8 + 8 * 4 + 4 + 4 * 2 + 2
  h0, h1 = res["pruning"]["final_hidden_sizes"]
  assert h0 <= 24 and h1 <= 12
  assert int(by["pruned"]["params"]) == 192 * h0 + h0 + h0 * h1 + h1 + h1 * 2 + 2
  # the prune table starts each layer at its trained width and the pruned row matches it
  table = _read_csv(wd / "prune_table.csv")
  assert {r["layer"] for r in table} <= {"0", "1"}
  assert table[0]["units_pruned"] == "0" and table[0]["hidden_units"] == "24"
  assert float(table[0]["accuracy_mean"]) == pytest.approx(float(by["direct"]["accuracy_mean"]))
  assert float(table[-1]["accuracy_mean"]) == pytest.approx(float(by["pruned"]["accuracy_mean"]))
  hist = np.load(wd / "history.npz")
  assert hist["autoencoder_train_mse"].shape == (1, 2, 6)
  assert np.isfinite(hist["autoencoder_val_mse"]).all()
  assert hist["autoencoder_train_mse"][..., -1].mean() < hist["autoencoder_train_mse"][..., 0].mean()
  ae = res["autoencoder"]
  assert ae["code_floats_per_trial"] == 48 and ae["encoder_params"] == 3 * (64 * 16 + 16)
  md = (wd / "comparison.md").read_text()
  assert "| direct |" in md and "| codes |" in md and "| pruned |" in md
  assert f"{res['dataset']['name']} (real)" in md


CUT_ARGS = ["--hidden_sizes=16,8", "--epochs=6", "--learning_rate=0.005", "--num_seeds=2",
            "--num_devices=2", "--epochs_per_call=3", "--similar_deg=30",
            "--complementary_deg=150", "--prune_layers=0"]


@pytest.mark.slow
def test_classify_alcohol_config_killed_mid_pruning_resumes_to_the_same_results(
    binary, tmp_path, interrupt_after_save, capsys):
  """The shipped config with small sizes; a run stopped (in process, deterministically)
  after its second pruning checkpoint resumes (training restored, pruning continued) and
  ends as an uninterrupted run."""
  import pytest
  from absl import flags
  from absl.testing import flagsaver

  from test_resume import steps_in
  mod = binary("classify_alcohol")

  def run(wd):
    with flagsaver.flagsaver():
      flags.FLAGS(["classify_alcohol", "--flagfile=experiments/configs/alcohol_classify.cfg",
                   *CUT_ARGS, f"--workdir={wd}"])
      mod.main(["classify_alcohol"])

  full, cut = tmp_path / "full", tmp_path / "cut"
  os.chdir(REPO)                       # the config nests base.cfg by a repository path
  run(full)
  layer0 = cut / "checkpoints" / "pruned" / "layer_0"
  interrupt_after_save(lambda directory, step: directory == str(layer0) and
                       len(steps_in(layer0)) >= 2)
  with pytest.raises(SystemExit) as stop:
    run(cut)
  assert stop.value.code == 130
  assert not (cut / "results.json").exists()

  def stamps():   # {(folder, step): (inode, mtime)} of the finished checkpoints
    return {(d.name, s): (os.stat(d / str(s)).st_ino, os.stat(d / str(s)).st_mtime_ns)
            for d in [cut / "checkpoints" / "train", *sorted(layer0.parent.iterdir())]
            for s in steps_in(d)}

  before = stamps()
  run(cut)
  after = stamps()
  # resumed, not redone: the training's checkpoints (epoch 6 of 6) and the pruning sizes
  # saved before the kill are the same files; the pruning went on from there
  assert ("train", 6) in before and sum(k[0] == "layer_0" for k in before) >= 2
  assert {k: after[k] for k in before} == before and len(after) > len(before)
  a = json.loads((full / "results.json").read_text())
  b = json.loads((cut / "results.json").read_text())
  assert a == b
  assert a["dataset"]["data"] == "synthetic" and a["protocol"]["split"] == "holdout"
  assert len(a["pruning"]["per_layer"]["0"]["steps"]) >= 2
  rows = _read_csv(cut / "comparison.csv")
  assert {r["data"] for r in rows} == {"synthetic"}
  # resumed training reports the seconds of its earlier epochs too
  timing = json.loads((cut / "timing.json").read_text())
  assert timing["direct"]["train_s"] > 0
