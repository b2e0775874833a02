"""The generative part of the alcoholism study: GAN and U-Net shapes, a discriminator step
that learns, conv-channel merging that changes nothing, checkpoints, the two training
layouts agreeing, and train_gan.py end to end (resumed after an interruption)."""

import csv
import functools
import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import flagsaver

from eegjax.data.dataset import DatasetInfo, make_dataset
from eegjax.evaluate import prune_tables
from eegjax.data.splits import group_kfold
from eegjax.models.gan import DeconvGenerator, Discriminator, discriminator_features, \
    split_outputs
from eegjax.models.unet import UNetGenerator
from eegjax.pruning.distinctiveness import gram, map_gram
from declared_groups import conv_channel_group
from eegjax.pruning.surgery import merge_into, remove_units
from eegjax.train import carve_validation, make_fold_arrays
from eegjax.run.checkpoints import Checkpoints
from eegjax.train.gan_config import step_carry
from eegjax.train.gan_fit import GanConfig, GanTrainer, batch_terms


def checkpoint_stamps(folder):
  """{path parts of every numbered checkpoint folder: (inode, mtime)}."""
  out = {}
  for root, dirs, _ in os.walk(folder):
    for d in dirs:
      if d.isdigit():
        st = os.stat(os.path.join(root, d))
        out[(*os.path.relpath(os.path.join(root, d), folder).split(os.sep),)] = (
            st.st_ino, st.st_mtime_ns)
  return out

KEY = jax.random.key(0)


@pytest.mark.parametrize("gen", [DeconvGenerator(features=(16, 8, 4)),
                                 UNetGenerator(features=(4, 8, 8), upsample="resize"),
                                 UNetGenerator(features=(4, 8, 8), upsample="transpose")],
                         ids=["deconv", "unet_resize", "unet_transpose"])
def test_generator_shapes(gen):
  labels = jnp.array([0, 1, 1])
  z = jax.random.normal(KEY, (3,) + gen.noise_shape)
  params = gen.init(KEY, z, labels)
  img = gen.apply(params, z, labels)
  assert img.shape == (3, 32, 32, 3)
  assert float(jnp.abs(img).max()) <= 1.0
  other = gen.apply(params, z, 1 - labels)      # the class is an input
  assert not np.allclose(img, other)


@pytest.mark.parametrize("semi", [False, True])
def test_discriminator_shapes(semi):
  d = Discriminator(num_classes=2, features=(4, 8, 16), semi_supervised=semi)
  x = jax.random.normal(KEY, (5, 32, 32, 3))
  params = d.init(KEY, x)
  out, maps = d.apply(params, x, return_activations=True)
  if semi:
    assert out.shape == (5, 3)
  else:
    assert out[0].shape == (5, 2) and out[1].shape == (5,)
  cls, adv = split_outputs(out, semi)
  assert cls.shape == (5, 2) and adv.shape == (5,)
  assert [m.shape for m in maps] == [(5, 16, 16, 4), (5, 8, 8, 8), (5, 4, 4, 16)]
  assert discriminator_features(params) == (4, 8, 16)
  if semi:   # P(real) = 1 - softmax[K]
    np.testing.assert_allclose(jax.nn.sigmoid(adv), 1 - jax.nn.softmax(out)[:, -1],
                               rtol=1e-5)


@pytest.mark.parametrize("semi", [False, True])
def test_a_discriminator_step_lowers_its_loss_on_a_fixed_batch(semi):
  d = Discriminator(features=(8, 16, 16), semi_supervised=semi)
  k1, k2 = jax.random.split(KEY)
  real = jax.random.normal(k1, (16, 32, 32, 3)) * 0.3 + 0.2
  fake = jax.random.normal(k2, (16, 32, 32, 3)) * 0.3 - 0.2
  y = jnp.arange(16) % 2
  w = jnp.ones(16)
  params = d.init(KEY, real)
  tx = optax.adam(1e-3)
  opt = tx.init(params)

  def loss(p):
    return batch_terms(d.apply(p, real), d.apply(p, fake), y, y, w, semi)["D_total"]

  @jax.jit
  def step(p, o):
    g = jax.grad(loss)(p)
    u, o = tx.update(g, o, p)
    return optax.apply_updates(p, u), o

  before = float(loss(params))
  p1, _ = step(params, opt)
  assert float(loss(p1)) < before          # one step already
  for _ in range(20):
    params, opt = step(params, opt)
  assert float(loss(params)) < 0.8 * before


@pytest.mark.parametrize("layer,semi", [(0, False), (1, True), (2, False), (2, True)])
def test_merging_two_identical_conv_channels_leaves_the_outputs_unchanged(layer, semi):
  d = Discriminator(features=(6, 8, 10), semi_supervised=semi)
  x = jax.random.normal(KEY, (4, 32, 32, 3))
  params = d.init(jax.random.key(3), x)
  tree = params["params"]
  conv = dict(tree[f"Conv_{layer}"])
  conv["kernel"] = conv["kernel"].at[..., 4].set(conv["kernel"][..., 1])   # channel 4 = 1
  conv["bias"] = conv["bias"].at[4].set(conv["bias"][1])
  params = {"params": {**tree, f"Conv_{layer}": conv}}
  before = d.apply(params, x)
  group = conv_channel_group(layer, params)
  merged = merge_into(params, group, 4, 1)
  keep = jnp.array([i for i in range(d.features[layer]) if i != 4])
  pruned = remove_units(merged, group, keep)
  features = discriminator_features(pruned)
  assert features[layer] == d.features[layer] - 1
  after = Discriminator(features=features, semi_supervised=semi).apply(pruned, x)
  chex.assert_trees_all_close(after, before, atol=1e-5, rtol=1e-5)
  # merging without the rule's transfer would change them
  dropped = remove_units(params, group, keep)
  changed = Discriminator(features=features, semi_supervised=semi).apply(dropped, x)
  assert not np.allclose(jax.tree.leaves(changed)[0], jax.tree.leaves(before)[0], atol=1e-4)


def test_map_gram_is_the_gram_over_patterns_and_positions():
  maps = jax.random.normal(KEY, (3, 4, 4, 5))
  w = jnp.array([1.0, 0.0, 1.0])
  rows = maps[jnp.array([0, 2])].reshape(-1, 5)
  np.testing.assert_allclose(map_gram(maps, w), gram(rows, 0.0), rtol=1e-5, atol=1e-5)


_NAMES = ("FP1", "FP2", "F7", "F8", "C3", "C4", "P3", "P4", "O1", "O2")


@functools.lru_cache(maxsize=None)
def _to_images():
  """One images function for the module's tiny GANs, so `_trainer` can be shared."""
  from eegjax.data.scalp_images import fit_grid
  grid = fit_grid(list(_NAMES), log=lambda m: None)

  def to_images(rows):
    return grid.signed_images(rows.reshape(rows.shape[0], -1, 3))
  return to_images


def _tiny_setup(num_seeds=2):
  rng = np.random.default_rng(0)
  n = 40
  y = np.arange(n) % 2
  x = rng.normal(size=(n, 3 * len(_NAMES))) + 0.5 * y[:, None]
  info = DatasetInfo(name="tiny", source="test", real=False, channel_names=_NAMES)
  ds = make_dataset(x.astype(np.float32), y, ("control", "alcoholic"), info,
                    groups=np.repeat(np.arange(8), 5))
  folds = make_fold_arrays(ds, carve_validation(ds, group_kfold(ds.groups, 4, seed=0)[:1],
                                                0.25))
  return folds, (jnp.asarray(ds.x), jnp.asarray(ds.y)), _to_images(), list(range(num_seeds))


@functools.lru_cache(maxsize=None)
def _trainer(to_images, layout, num_devices=1):
  """A tiny GAN trainer, one per (layout, devices) for the module: a trainer holds no run
  state (fit takes and returns it), and sharing it lets tests reuse its compiled programs."""
  return GanTrainer(DeconvGenerator(noise_dim=8, features=(8, 4, 4)),
                    Discriminator(features=(4, 8, 8)), GanConfig(epochs=2, batch_size=8),
                    to_images, layout=layout, num_devices=num_devices)


@pytest.mark.slow
def test_vmap_and_loop_layouts_agree_and_checkpoints_round_trip(tmp_path):
  """The vmap layout with its two models spread over two devices gives what the loop
  layout gives model by model on one (so the layouts and the device count agree: this
  replaces running the binary once per device count)."""
  folds, data, to_images, seeds = _tiny_setup()
  results = {}
  for layout, devices in (("vmap", 2), ("loop", 1)):
    results[layout] = _trainer(to_images, layout, devices).fit(seeds, folds, data,
                                                                log=lambda m: None)
  # (best-epoch flags are not compared: a near tie in validation loss may break either way)
  rv, rl = results["vmap"], results["loop"]
  sv, sl = rv.state, rl.state
  chex.assert_trees_all_close(sl.g, sv.g, atol=1e-4, rtol=1e-3)
  chex.assert_trees_all_close(sl.g_avg, sv.g_avg, atol=1e-4, rtol=1e-3)
  chex.assert_trees_all_close(sl.d, sv.d, atol=1e-4, rtol=1e-3)
  chex.assert_trees_all_close(rl.history, rv.history, atol=1e-4, rtol=1e-3)
  assert np.asarray(sv.best_epoch).shape == (1, 2)
  assert {k.split("/")[0] for k in rv.history} == {"train", "val", "test"}
  for name, h in rv.history.items():
    assert h.shape == (1, 2, 2) and np.isfinite(h).all(), name
  # checkpoint round trip of the whole state
  ck = Checkpoints(str(tmp_path / "ck"), log=lambda m: None)
  ck.save(2, {"state": sl}, {"epochs_done": 2})
  step, arrays, meta = ck.restore_latest({"state": _trainer(to_images, "loop").init(
      seeds, folds, data)})
  ck.close()
  assert step == 2 and meta["epochs_done"] == 2
  chex.assert_trees_all_equal(jax.tree.map(np.asarray, arrays["state"]),
                              jax.tree.map(np.asarray, sl))
  # the class head as a classifier: metrics per model
  test = _trainer(to_images, "loop").classify(sl.best_d, folds, data, "test")
  assert test["accuracy"].shape == (1, 2)


def test_a_gan_interrupted_after_an_epoch_resumes_to_the_uninterrupted_state(tmp_path):
  """Ctrl-C in epoch 2's after_block (where the study draws its image grids; it runs before
  that epoch's checkpoint), then the same fit again: epoch 1 is restored, not retrained,
  and the state and history equal an uninterrupted fit's."""
  folds, data, to_images, seeds = _tiny_setup(num_seeds=1)
  tr = _trainer(to_images, "loop")
  whole = tr.fit(seeds, folds, data, log=lambda m: None)
  ck = Checkpoints(str(tmp_path / "ck"), log=lambda m: None)

  def stop(state, epoch):
    if epoch == 2:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    tr.fit(seeds, folds, data, log=lambda m: None, checkpoints=ck, checkpoint_every=1,
           after_block=stop)
  ck.close()
  assert ck.steps() == [1]
  stamp = os.stat(tmp_path / "ck" / "1").st_mtime_ns
  ck = Checkpoints(str(tmp_path / "ck"), log=lambda m: None)
  resumed = tr.fit(seeds, folds, data, log=lambda m: None, checkpoints=ck,
                   checkpoint_every=1)
  ck.close()
  assert resumed.resumed_from == 1
  assert os.stat(tmp_path / "ck" / "1").st_mtime_ns == stamp      # epoch 1 not redone
  chex.assert_trees_all_close(resumed.state.g, whole.state.g, atol=1e-6)
  chex.assert_trees_all_close(resumed.state.d, whole.state.d, atol=1e-6)
  chex.assert_trees_all_close(resumed.state.g_avg, whole.state.g_avg, atol=1e-6)
  chex.assert_trees_all_close(resumed.history, whole.history, atol=1e-6)


def test_the_averaged_generator_follows_the_warmed_up_moving_average():
  """g_avg after each step is a g_avg + (1 - a) g with a = min(--g_average, (1+t)/(10+t))
  (t: steps before); with --g_average=0 it is the trained generator itself."""
  folds, data, to_images, seeds = _tiny_setup(num_seeds=1)
  fa = jax.tree.map(lambda a: a[0], folds)
  for decay in (0.0, 0.15):
    tr = GanTrainer(DeconvGenerator(noise_dim=8, features=(8, 4, 4)),
                    Discriminator(features=(4, 8, 8)),
                    GanConfig(epochs=1, batch_size=8, g_average=decay), to_images, "loop")
    state = jax.tree.map(lambda a: a[0, 0], tr.init(seeds, folds, data))
    idx, w, keys = tr._batches(0, jnp.uint32(0), fa)
    carry, expected = step_carry(state), state.g
    for b in range(3):
      carry, _ = tr._step(carry, (idx[b], w[b], keys[b]), fa, data)
      a = min(decay, (1.0 + b) / (10.0 + b))
      expected = jax.tree.map(lambda m, v: a * m + (1 - a) * v, expected, carry[0])
      chex.assert_trees_all_close(carry[4], expected, atol=1e-6)
      assert int(carry[5]) == b + 1
    if decay == 0.0:
      chex.assert_trees_all_equal(carry[4], carry[0])
    else:     # a real average: not the last weights
      assert not np.allclose(jax.tree.leaves(carry[4])[0], jax.tree.leaves(carry[0])[0])


def test_gan_divergence_names_the_model_and_keeps_the_last_good_state(tmp_path):
  """A GAN whose losses turn non-finite stops like a classifier: one error naming seed,
  fold and epoch, the last good checkpoint kept (the driver's divergence handling)."""
  from eegjax.train import TrainingDiverged
  folds, data, to_images, seeds = _tiny_setup()
  ck = Checkpoints(str(tmp_path / "ck"), log=lambda m: None)
  one = GanTrainer(DeconvGenerator(noise_dim=8, features=(8, 4, 4)),
                   Discriminator(features=(4, 8, 8)), GanConfig(epochs=1, batch_size=8),
                   to_images, layout="loop")
  one.fit(seeds, folds, data, log=lambda m: None, checkpoints=ck)   # checkpoint 1
  x, y = data
  ck = Checkpoints(str(tmp_path / "ck"), log=lambda m: None)
  with pytest.raises(TrainingDiverged, match=r"at seed \d, fold 0, epoch 2; .*last good "
                     r"checkpoint \(epoch 1\) is kept"):
    _trainer(to_images, "loop").fit(seeds, folds, (jnp.full_like(x, jnp.nan), y),
                                    log=lambda m: None, checkpoints=ck)


GAN_ARGS = dict(hidden_sizes=["8"], classifier_epochs=2, num_seeds=2, val_fraction=0.2,
                generator=["deconv"], upsample=["resize"], noise_dim=8,
                g_features=["8", "4", "4"], unet_features=["4", "8"],
                d_features=["4", "8", "8"], gan_epochs=2, checkpoint_every=1,
                image_epochs=["1", "2"], images_per_class=1, prune_conv_layers=["2"],
                conv_criteria=["distinctiveness", "random"],
                max_pruned=2, beyond_thresholds=True, num_devices=2, gan_batch_size=32,
                compare_dense=False)     # the dense classifier's row: the slow test below


def _smni_files(tmp_path):
  from eegjax.data.synthetic import smni_trials, write_smni_files
  files = tmp_path / "smni"
  write_smni_files(str(files), smni_trials(1, num_subjects=10, trials_per_subject=4),
                   layout="tar")
  return files


def test_train_gan_writes_logs_tables_and_grids_and_resumes(binary, tmp_path, monkeypatch):
  """train_gan.py end to end, stopped by Ctrl-C while its results files are written (after
  results.json, every stage done), then the same command: every stage (training, best
  models, the samples' quality, each pruned size) is restored from its checkpoint, nothing
  is recomputed, and the results are the same. (A GAN stopped mid-training resuming to the
  uninterrupted state is the trainer-level test above.)"""
  from eegjax.studies.gan import figures as gan_figures, quality as gan_quality
  files = _smni_files(tmp_path)
  mod = binary("train_gan")
  full = tmp_path / "full"
  real_curves = gan_figures.gan_curves

  def interrupt(*args, **kw):
    raise KeyboardInterrupt

  monkeypatch.setattr(gan_figures, "gan_curves", interrupt)
  with flagsaver.flagsaver(data_path=str(files), workdir=str(full), **GAN_ARGS):
    with pytest.raises(SystemExit) as stop:       # Ctrl-C: exit 130, where it stopped
      mod.main(["train_gan.py"])
  assert stop.value.code == 130
  assert (full / ".results_pending").exists() and not (full / "timing.json").exists()
  first = json.loads((full / "results.json").read_text())
  before = checkpoint_stamps(full / "checkpoints")
  layer = full / "checkpoints" / "deconv" / "pruned" / "distinctiveness" / "layer_2"
  assert sorted(int(p.name) for p in layer.iterdir() if p.name.isdigit()) == [0, 2]
  assert any(k[-3:] == ("random", "layer_2", "2") for k in before)
  monkeypatch.setattr(gan_figures, "gan_curves", real_curves)

  def measured_again(*args, **kw):
    raise AssertionError("the samples' quality was measured again on resume")

  monkeypatch.setattr(gan_quality.Judge, "measure", measured_again)
  with flagsaver.flagsaver(data_path=str(files), workdir=str(full), **GAN_ARGS):
    mod.main(["train_gan.py"])
  # nothing recomputed: every checkpoint (training, best models, each pruned size) is the
  # one written before, and none was added; the same results
  assert checkpoint_stamps(full / "checkpoints") == before
  assert json.loads((full / "results.json").read_text()) == first
  assert not (full / ".results_pending").exists()
  for f in ("gan_comparison.csv", "gan_comparison.md", "gan_comparison.png", "gan_curves.png",
            "epoch_log_deconv.csv", "gan_prune_table.csv",
            "results.json", "timing.json", "history.npz",
            "images/deconv_epoch_001.png", "images/deconv_epoch_002.png"):
    assert (full / f).exists(), f
  log = (full / "log.txt").read_text()
  assert "deconv: epoch 2/2    val: D_cls" in log and "D_adv_fake" in log
  assert "no scalp position for X, nd, Y" in log
  assert (full / "checkpoints" / "deconv" / "best").is_dir()
  rows = list(csv.DictReader(open(full / "gan_comparison.csv")))
  assert [r["model"] for r in rows] == ["deconv (D class head)"]
  assert {r["data"] for r in rows} == {"real"}    # files a user points at count as real
  assert int(rows[0]["models"]) == 2
  epochs = list(csv.DictReader(open(full / "epoch_log_deconv.csv")))
  assert len(epochs) == 6 and {e["part"] for e in epochs} == {"train", "val", "test"}
  assert all(np.isfinite(float(e["D_total"])) for e in epochs)
  table = list(csv.DictReader(open(full / "gan_prune_table.csv")))
  for crit in ("distinctiveness", "random"):   # compared at equal size
    assert [int(r["channels"]) for r in table
            if r["variant"] == "deconv" and r["criterion"] == crit] == [8, 6]
  params = [int(r["discriminator_params"]) for r in table
            if r["variant"] == "deconv" and r["criterion"] == "distinctiveness"]
  # 2 channels: their conv kernels and biases, and the heads' rows at the 4 x 4 flattened
  # positions of each (2 class logits + 1 real/fake)
  assert params[0] - params[1] == 2 * (9 * 8 + 1) + 2 * 16 * (2 + 1)
  # random minus distinctiveness on the same discriminators, at both sizes
  diff = [float(r["accuracy_minus_distinctiveness_mean"]) for r in table
          if r["variant"] == "deconv" and r["criterion"] == "random"]
  acc = {c: [float(r["accuracy_mean"]) for r in table
             if r["variant"] == "deconv" and r["criterion"] == c]
         for c in ("distinctiveness", "random")}
  np.testing.assert_allclose(diff, np.subtract(acc["random"], acc["distinctiveness"]),
                             atol=1e-6)
  assert all(r["accuracy_minus_distinctiveness_p"] == "" for r in table
             if r["criterion"] == "distinctiveness")
  res = json.loads((full / "results.json").read_text())
  assert set(res["variants"]) == {"deconv"}
  assert res["conv_pruning_paired"]["method"] == prune_tables.NO_TEST     # one split
  assert res["conv_pruning_paired"]["compensation"] == "merge"
  # the samples' quality: per model, in the comparison and at the quality epochs
  q = res["variants"]["deconv"]["quality"]
  for k in ("tstr_accuracy/val", "tstr_accuracy/test", "trtr_accuracy/test",
            "two_sample_accuracy", "spread_ratio", "memorisation_ratio",
            "linear_two_sample_accuracy", "outside_at_minus1"):
    assert q["summary"][k]["n"] == 2 and np.asarray(q["per_model"][k]).shape == (1, 2), k
  assert q["summary"]["outside_at_minus1"]["mean"] == 1.0    # --head_mask=apply
  assert set(q["by_epoch"]) == {"1", "2"}
  assert 0.0 <= float(rows[0]["tstr_mean"]) <= 1.0
  assert [e["tstr"] != "" for e in epochs] == [False, False, True] * 2
  assert (full / "images" / "deconv_means_epoch_002.png").exists()
  assert "samples: TSTR" in log


def test_conv_pruning_rows_carry_paired_differences_per_layer():
  """Each criterion minus distinctiveness, per layer and size both reached, on the same
  models; distinctiveness's own rows and sizes it did not reach carry none."""
  from eegjax.studies.gan.pruning import paired_rows
  acc = {("distinctiveness", 1, 0): [0.8, 0.7, 0.9], ("distinctiveness", 1, 2): [0.7, 0.6, 0.9],
         ("random", 1, 0): [0.8, 0.7, 0.9], ("random", 1, 2): [0.6, 0.6, 0.6],
         ("random", 1, 4): [0.5, 0.5, 0.5],
         ("distinctiveness", 2, 0): [0.7, 0.6, 0.9], ("random", 2, 0): [0.6, 0.6, 0.6]}
  rows = [{"criterion": c, "layer": layer, "units_pruned": n,
           "per_model": {"accuracy": np.array(a), "f1": np.array(a), "loss": np.array(a)}}
          for (c, layer, n), a in acc.items()]
  protocol = {"folds": 3, "test_train_ratio": 0.25, "labels": None}   # 3 folds, a seed each
  out = {(r["criterion"], r["layer"], r["units_pruned"]): r
         for r in paired_rows(rows, protocol)}
  assert set(out) == set(acc)
  d = out[("random", 1, 2)]["minus_distinctiveness"]["accuracy"]
  np.testing.assert_allclose(d["mean"], np.mean([-0.1, 0.0, -0.3]))
  assert d["ci95"][0] < d["mean"] < d["ci95"][1] and 0.0 < d["p"] < 1.0
  assert out[("random", 1, 0)]["minus_distinctiveness"]["accuracy"]["mean"] == 0.0
  # layer 2 is compared with layer 2 only
  np.testing.assert_allclose(out[("random", 2, 0)]["minus_distinctiveness"]["accuracy"]
                             ["mean"], np.mean([-0.1, 0.0, -0.3]))
  assert "minus_distinctiveness" not in out[("random", 1, 4)]
  assert "minus_distinctiveness" not in out[("distinctiveness", 1, 2)]


def test_epoch_log_leaves_out_missing_parts_and_unmeasured_epochs(tmp_path):
  """Without a validation part the epoch log has no val rows (not rows of zeros); the
  quality columns are filled at the measured epochs only."""
  from eegjax.studies.gan.report import QUALITY_COLUMNS, epoch_log
  from eegjax.run.workdir import Workdir
  from eegjax.train.gan_fit import METRICS, PARTS
  history = {f"{p}/{m}": np.full((1, 2, 3), 0.25) for p in PARTS for m in METRICS}
  quality = {2: {k: np.array([[0.5, 0.7]]) for _, k in QUALITY_COLUMNS}}
  wd = Workdir(str(tmp_path))
  wd.write_csv("epoch_log_deconv.csv", *epoch_log(history, False, quality))
  rows = list(csv.DictReader(open(tmp_path / "epoch_log_deconv.csv")))
  assert [(r["epoch"], r["part"]) for r in rows] == [
      (str(e), p) for e in (1, 2, 3) for p in ("train", "test")]
  assert [r["two_sample"] for r in rows] == ["", "", "", "0.6", "", ""]


@pytest.mark.parametrize("semi", [False, True])
def test_flattened_discriminator_channels_are_discovered_and_merge_exactly(semi):
  """pool="flatten": the last conv's channels act through strided rows of the heads;
  discovery finds them (4 x 4 positions a channel) and merging two identical channels
  leaves the outputs unchanged, in every layer (the minibatch features, computed from the
  input images, are in no channel's group)."""
  from eegjax.pruning import discover_groups
  d = Discriminator(features=(6, 8, 10), semi_supervised=semi, pool="flatten",
                    minibatch=True)
  x = jax.random.normal(KEY, (4, 32, 32, 3))
  base = d.init(jax.random.key(3), x)
  for layer in range(3):
    tree = base["params"]
    conv = dict(tree[f"Conv_{layer}"])
    conv["kernel"] = conv["kernel"].at[..., 4].set(conv["kernel"][..., 1])
    conv["bias"] = conv["bias"].at[4].set(conv["bias"][1])
    params = {"params": {**tree, f"Conv_{layer}": conv}}
    groups = [g for g in discover_groups(d.apply, params, x) if g.prunable]
    assert len(groups) == 3
    if layer == 2:
      assert {s.path[1] for s in groups[2].outgoing} == (
          {"head"} if semi else {"cls_head", "adv_head"})
      assert all(s.segments == ((4, 4, "Conv_2"),) for s in groups[2].outgoing)
    keep = jnp.array([i for i in range(d.features[layer]) if i != 4])
    pruned = remove_units(merge_into(params, groups[layer], 4, 1), groups[layer], keep)
    features = discriminator_features(pruned)
    assert features[layer] == d.features[layer] - 1
    after = Discriminator(features=features, semi_supervised=semi,
                          pool="flatten", minibatch=True).apply(pruned, x)
    chex.assert_trees_all_close(after, d.apply(params, x), atol=1e-5, rtol=1e-5)


def test_unet_noise_vector_modulates_every_decoder_layer_and_zero_keeps_the_image_noise_only():
  """The U-Net's noise vector (after the noise image's values) scales and shifts every
  decoder layer's channels (FiLM), so it changes the whole image; with the modulation's
  weights at zero the U-Net is the one without a vector; with noise_dim=0 there is none,
  and the same key draws the same noise image as the (32, 32, 1) noise the U-Net took."""
  labels = jnp.array([0, 1])
  gen = UNetGenerator(features=(4, 8, 8), noise_dim=6)
  assert gen.noise_shape == (32 * 32 + 6,)
  z = jax.random.normal(KEY, (2,) + gen.noise_shape)
  p = gen.init(KEY, z, labels)
  films = {k: v["kernel"].shape for k, v in p["params"].items() if k.startswith("film_")}
  assert films == {"film_up_1": (6, 16), "film_dec_1": (6, 16),       # 16x16: 8 channels
                   "film_up_0": (6, 8), "film_dec_0": (6, 8)}         # 32x32: 4 channels
  img = gen.apply(p, z, labels)
  other = gen.apply(p, z.at[:, -6:].set(jax.random.normal(KEY, (2, 6)) + 3.0), labels)
  changed = np.abs(np.asarray(img - other)).max(-1) > 1e-6
  assert changed.mean() > 0.9          # a global change, not a local one
  np.testing.assert_array_equal(img, gen.apply(p, z, labels))
  plain = UNetGenerator(features=(4, 8, 8))
  off = {k: (jax.tree.map(jnp.zeros_like, v) if k.startswith("film_") else v)
         for k, v in p["params"].items()}
  np.testing.assert_allclose(
      gen.apply({"params": off}, z, labels),
      plain.apply({"params": {k: v for k, v in p["params"].items()
                              if not k.startswith("film_")}}, z[:, :-6], labels),
      atol=1e-6)
  plain = UNetGenerator(features=(4, 8, 8))
  assert plain.noise_shape == (32 * 32,)
  zp = jax.random.normal(KEY, (2,) + plain.noise_shape)
  np.testing.assert_array_equal(zp.reshape(2, 32, 32, 1),
                                jax.random.normal(KEY, (2, 32, 32, 1)))
  assert not any(k.startswith("film_") for k in plain.init(KEY, zp, labels)["params"])


def test_batch_stat_norm_generators_normalise_by_the_batch():
  """BatchStatNorm: zero mean, unit variance per channel over the batch before its scale
  and shift; the normalised generators still map noise and class to [-1, 1] images."""
  from eegjax.models.gan import BatchStatNorm
  x = 3.0 + 2.0 * jax.random.normal(KEY, (5, 4, 4, 3))
  n = BatchStatNorm()
  y = n.apply(n.init(KEY, x), x)
  np.testing.assert_allclose(np.asarray(y).mean((0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(y).std((0, 1, 2)), 1.0, atol=1e-3)
  for gen in (DeconvGenerator(features=(8, 4, 4), norm=True),
              UNetGenerator(features=(4, 8, 8), norm=True)):
    z = jax.random.normal(KEY, (3,) + gen.noise_shape)
    p = gen.init(KEY, z, jnp.array([0, 1, 1]))
    assert any("norm" in k for k in p["params"])
    img = gen.apply(p, z, jnp.array([0, 1, 1]))
    assert img.shape == (3, 32, 32, 3) and float(jnp.abs(img).max()) <= 1.0


@pytest.mark.slow
def test_train_gan_selects_each_models_epoch_by_tstr_on_validation(binary, tmp_path):
  """--select_by=tstr: each model's best epoch is its quality epoch with the highest TSTR
  accuracy on the validation part (the later on a tie), and its figures are those of
  that epoch's generator. Run on the U-Net generator (resize upsampling), so the binary's
  second generator family goes end to end too (the fast test above runs the deconv one)."""
  files = _smni_files(tmp_path)
  mod = binary("train_gan")
  args = dict(GAN_ARGS, generator=["unet"], compare_dense=True, gan_epochs=3,
              image_epochs=["3"], quality_epochs=["1", "2", "3"], prune_conv_layers=[],
              select_by="tstr", head_mask="montage")
  wd = tmp_path / "w"
  with flagsaver.flagsaver(data_path=str(files), workdir=str(wd), **args):
    mod.main(["train_gan.py"])
  res = json.loads((wd / "results.json").read_text())
  assert set(res["variants"]) == {"unet_resize"}
  for f in ("epoch_log_unet_resize.csv", "images/unet_resize_epoch_003.png"):
    assert (wd / f).exists(), f
  rows = list(csv.DictReader(open(wd / "gan_comparison.csv")))
  assert [r["model"] for r in rows] == ["unet_resize (D class head)",
                                        "dense classifier (192 band powers)"]
  assert rows[1]["tstr_mean"] == "" and 0.0 <= float(rows[0]["tstr_mean"]) <= 1.0
  assert res["dense_classifier"]["summary"]["accuracy"]["n"] == 2
  assert res["protocol"]["best_model"].startswith("highest TSTR accuracy")
  by_epoch = json.loads((wd / "quality_unet_resize.json").read_text())
  val = np.stack([np.asarray(by_epoch[str(e)]["tstr_accuracy/val"]) for e in (1, 2, 3)])
  expected = 3 - val[::-1].argmax(0)                 # last maximum: the later epoch
  variant = res["variants"]["unet_resize"]
  got = np.asarray(variant["best_epoch"])
  assert got.shape == expected.shape and (got == expected).all()
  best = variant["quality"]["per_model"]["tstr_accuracy/val"]
  np.testing.assert_allclose(best, val.max(0))
  assert variant["quality"]["summary"]["outside_at_minus1"]["mean"] == 1.0


def test_discriminator_hidden_layer_channels_merge_exactly():
  """hidden > 0: the last conv's channels act through the hidden layer's rows (strided
  by the flattening); discovery finds that group and a merge of identical channels is
  exact; the hidden units are a group of their own."""
  from eegjax.pruning import discover_groups
  d = Discriminator(features=(4, 6, 8), pool="flatten", hidden=5)
  x = jax.random.normal(KEY, (3, 32, 32, 3))
  tree = d.init(jax.random.key(1), x)["params"]
  conv = dict(tree["Conv_2"])
  conv["kernel"] = conv["kernel"].at[..., 3].set(conv["kernel"][..., 0])
  conv["bias"] = conv["bias"].at[3].set(conv["bias"][0])
  params = {"params": {**tree, "Conv_2": conv}}
  groups = [g for g in discover_groups(d.apply, params, x) if g.prunable]
  assert len(groups) == 4
  assert [s.path[1] for s in groups[2].outgoing] == ["hidden"]
  pruned = remove_units(merge_into(params, groups[2], 3, 0), groups[2],
                        jnp.array([0, 1, 2, 4, 5, 6, 7]))
  after = Discriminator(features=discriminator_features(pruned), pool="flatten",
                        hidden=5).apply(pruned, x)
  chex.assert_trees_all_close(after, d.apply(params, x), atol=1e-5, rtol=1e-5)


def test_the_class_head_is_trained_on_fakes_with_their_conditioning_labels():
  """Hand-computed AC-GAN terms with fake labels unlike the real ones: D_cls averages the
  real images' CE against their labels and the fakes' CE against the labels they were
  drawn for; G's class term and D_cls_fake use the fakes' labels too."""
  import optax

  cls_r = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  cls_f = jnp.array([[0.0, 3.0], [1.5, 0.0], [0.5, 0.0]])
  adv = jnp.zeros(3)                       # the two-head discriminator: (class, real/fake)
  y, y_fake, w = jnp.array([0, 1, 0]), jnp.array([1, 0, 1]), jnp.ones(3)
  t = batch_terms((cls_r, adv), (cls_f, adv), y, y_fake, w, False)
  ce = lambda logits, labels: float(jnp.mean(  # noqa: E731
      optax.softmax_cross_entropy_with_integer_labels(logits, labels)))
  assert float(t["D_cls"]) == pytest.approx(0.5 * (ce(cls_r, y) + ce(cls_f, y_fake)), 1e-6)
  assert float(t["G"]) == pytest.approx(np.log(2.0) + ce(cls_f, y_fake), 1e-6)
  pf = jax.nn.softmax(cls_f)
  assert float(t["D_cls_fake"]) == pytest.approx(
      float(jnp.mean(pf[jnp.arange(3), y_fake])), 1e-6)
  # the same batch with the fakes labelled as the reals: different, so a swap is seen
  wrong = batch_terms((cls_r, adv), (cls_f, adv), y, y, w, False)
  assert abs(float(wrong["D_cls"]) - float(t["D_cls"])) > 0.1


def test_each_step_conditions_the_fakes_and_labels_them_with_the_batchs_classes(monkeypatch):
  """In the training step the fakes are drawn for the real batch's classes and the class
  head is scored on them with those same classes: every label array the generator is
  given is one the terms score the fakes with, and the terms' fake labels are the real
  batch's."""
  import eegjax.train.gan_fit as gan_fit

  scored, drawn = [], []
  real_terms = gan_fit.batch_terms

  def spy(out_real, out_fake, y, y_fake, w, semi):
    jax.debug.callback(lambda a, b: scored.append((np.asarray(a), np.asarray(b))), y, y_fake)
    return real_terms(out_real, out_fake, y, y_fake, w, semi)

  class SpyGenerator(DeconvGenerator):
    def __call__(self, noise, labels):
      jax.debug.callback(lambda a: drawn.append(np.asarray(a)), labels)
      return super().__call__(noise, labels)

  monkeypatch.setattr(gan_fit, "batch_terms", spy)
  folds, data, to_images, _ = _tiny_setup(num_seeds=1)
  GanTrainer(SpyGenerator(noise_dim=8, features=(8, 4, 4)), Discriminator(features=(4, 8, 8)),
             GanConfig(epochs=1, batch_size=8), to_images, layout="loop").fit(
                 [0], folds, data, log=lambda m: None)
  assert scored and drawn
  assert all(np.array_equal(y, y_fake) for y, y_fake in scored)
  batches = {y.tobytes() for y, _ in scored}
  assert all(labels.tobytes() in batches for labels in drawn if labels.shape[0] == 8)
