"""eegjax speed benchmark: the studies' training sweeps, the angle analysis and inference.

Prints one table (and writes it as JSON with --out):
  - MLP study sweep (25-30-3 sigmoid, Adam lr 0.01, 1500 epochs, batch 32, 10 folds) at 1
    and 10 seeds: compile s, run s, ms per (seed, fold) model, achieved GFLOP/s;
  - the whole 10-seed x 10-fold study as a user runs it (train_mlp.py with
    music_mlp.cfg in a fresh process): process start to results written;
  - RNN study (50 tanh units, 2400 steps, batch 32, Adam lr 0.003): s per epoch of one
    model and of the 5 folds together, and the 5-fold x 200-epoch run (measured with
    --rnn_epochs=200, else extrapolated from the measured epochs and labelled so);
  - the distinctiveness angle analysis (Gram of centred activations + angles) at units x
    patterns 30 x 576, 512 x 16384 and 2048 x 16384, against one numpy matmul A^T A of
    the same shape;
  - inference ms of the MLP and the RNN at full and pruned widths, structural (units
    deleted) vs masked (units zeroed, size kept);
  - pruning as a user runs it (fresh processes, real EEG, --sections=pruning): the main
    job (scp1_prune_mlp.cfg) and prune_rnn.py --dataset=scp1 --num_seeds=2 --num_folds=3
    --epochs=3, each with an empty compilation cache and again with it filled: wall time,
    training vs pruning seconds, and one pruning step of every model (the analysis and
    test evaluation at a size plus the step's choice and surgery, median over steps;
    timing.json's analyse_ms + step_ms) against one training epoch of the same models,
    next to the pruning seconds per size with everything (inference timing, checkpoint,
    compiles).
Training runs on the PyTorch reference's synthetic data and folds (reference_data.py).

With --reference=DIR (the PyTorch reference's folder) and --reference_python, it also runs
the reference's MLP and RNN scripts in the same sitting and prints the speed-up ratios.

    python benchmarks/speed.py --out=/tmp/eegjax_speed.json
    python benchmarks/speed.py --reference=../shared/bench \
        --reference_python=/tmp/venv-torch/bin/python
"""

import json
import os
import re
import subprocess
import sys
import time

from absl import app, flags

import numpy as np

SECTIONS = ("mlp", "study", "rnn", "angles", "inference", "pruning")
flags.DEFINE_list("sections", list(SECTIONS), "what to measure: " + ", ".join(SECTIONS))
flags.DEFINE_list("mlp_seeds", ["1", "10"], "seed counts of the MLP sweep")
flags.DEFINE_integer("mlp_epochs", 1500, "MLP epochs")
flags.DEFINE_integer("rnn_epochs", 6, "RNN epochs to measure (200 = the whole study run)")
flags.DEFINE_integer("repeats", 5, "repeats of the angle and inference timings (median)")
flags.DEFINE_integer("num_devices", 0, "devices for the sweeps (0 = all; on CPU one XLA "
                     "host device per core)")
flags.DEFINE_string("reference", "", "folder of the PyTorch reference (torch_mlp.py, "
                    "torch_rnn.py) to run side by side; empty = skip")
flags.DEFINE_string("reference_python", sys.executable, "Python with torch installed")
flags.DEFINE_integer("reference_mlp_folds", 2, "folds the reference MLP trains (a sample)")
flags.DEFINE_integer("reference_rnn_epochs", 3, "epochs of one fold the reference RNN trains")
flags.DEFINE_string("out", "", "write the table as JSON here")
FLAGS = flags.FLAGS

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _median_time(fn, repeats):
  import jax
  jax.block_until_ready(fn())
  ts = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    ts.append(time.perf_counter() - t0)
  return float(np.median(ts))


def _folds(n, k):
  from reference_data import kfold
  from eegjax.train.folds import FoldArrays, _pad
  parts = kfold(n, k)
  tr_i, tr_w = _pad([a for a, _ in parts])
  te_i, te_w = _pad([b for _, b in parts])
  none_i, none_w = np.zeros((k, 1), np.int32), np.zeros((k, 1), bool)
  return FoldArrays(np.arange(k, dtype=np.int32), tr_i, tr_w, none_i, none_w, te_i, te_w,
                    None, None), [len(a) for a, _ in parts]


def _no_scaling(folds, shape):
  # the reference data is min-max scaled already: identity statistics
  k = len(folds.fold_id)
  return folds._replace(lo=np.zeros((k,) + shape, np.float32),
                        scale=np.ones((k,) + shape, np.float32))


def bench_mlp(rows, num_devices):
  import jax.numpy as jnp
  from reference_data import mlp_data, mlp_flops
  from eegjax.models import MLP
  from eegjax.train import TrainConfig, Trainer
  x, y = mlp_data()
  folds, n_train = _folds(len(x), 10)
  folds = _no_scaling(folds, (x.shape[1],))
  data = (jnp.asarray(x), jnp.asarray(y.astype(np.int32)), None)
  for s in (int(v) for v in FLAGS.mlp_seeds):
    cfg = TrainConfig(epochs=FLAGS.mlp_epochs, batch_size=32, learning_rate=0.01,
                      epochs_per_call=FLAGS.mlp_epochs)
    trainer = Trainer(MLP((30,), 3), cfg, has_val=False, num_devices=num_devices)
    fit = trainer.fit(list(range(s)), folds, data, log=lambda m: None)
    acc = float(np.mean(trainer.evaluate(fit.params, folds, data)["accuracy"]))
    flops = s * sum(mlp_flops(n, FLAGS.mlp_epochs) for n in n_train)
    rows.append({"section": "mlp", "what": f"MLP sweep, {s} seed(s) x 10 folds",
                 "compile_s": fit.compile_s, "run_s": fit.run_s,
                 "ms_per_seed_fold": 1e3 * fit.run_s / (10 * s),
                 "gflops": flops / fit.run_s / 1e9, "test_accuracy": acc})


def _run_binary(binary: str, args: list, workdir: str) -> tuple[float, dict]:
  """Runs experiments/<binary>.py in a fresh process; (wall seconds, {file: its JSON}) of
  the workdir's timing.json, results.json and config.json."""
  cmd = [sys.executable, os.path.join(REPO, "experiments", f"{binary}.py"), *args,
         f"--workdir={workdir}"]
  t0 = time.perf_counter()
  out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
  wall = time.perf_counter() - t0
  if out.returncode != 0:
    raise RuntimeError(f"{binary}.py failed: {out.stderr[-2000:]}")
  files = {}
  for name in ("timing", "results", "config"):
    with open(os.path.join(workdir, f"{name}.json")) as f:
      files[name] = json.load(f)
  return wall, files


def bench_study(rows, num_devices):
  """The 10 x 10 study as a user runs it: a fresh process, start to results.json."""
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    wall, files = _run_binary("train_mlp", ["--flagfile=experiments/configs/music_mlp.cfg",
                                            f"--num_devices={num_devices}"], f"{tmp}/run")
  timing, results = files["timing"], files["results"]
  rows.append({"section": "study", "what": "MLP study 10 seeds x 10 folds (music_mlp.cfg), "
               "process start to results written", "wall_s": wall,
               "compile_s": timing["compile_s"], "run_s": timing["train_run_s"],
               "ms_per_seed_fold": timing["ms_per_seed_fold"],
               "dataset": results.get("data", {}).get("name", "music_features"),
               "test_accuracy": results["summary"]["accuracy"]["mean"]})


PRUNING_RUNS = (
    ("prune_mlp", "main job (scp1_prune_mlp.cfg)",
     ["--flagfile=experiments/configs/scp1_prune_mlp.cfg"]),
    ("prune_rnn", "prune_rnn scp1 3 folds x 2 seeds, 3 epochs",
     ["--dataset=scp1", "--num_seeds=2", "--num_folds=3", "--epochs=3"]),
)


def bench_pruning(rows, num_devices):
  """The pruning binaries as a user runs them, cold and warm compilation cache."""
  import tempfile
  for binary, what, args in PRUNING_RUNS:
    with tempfile.TemporaryDirectory() as tmp:
      for cache in ("cold", "warm"):
        wall, files = _run_binary(binary, [*args, f"--compilation_cache={tmp}/xla",
                                           f"--num_devices={num_devices}"],
                                  f"{tmp}/{cache}")
        timing = files["timing"]
        epochs = files["config"]["classify"]["train"]["epochs"]
        steps = [r for v in timing["per_step_ms"].values() for r in v]
        # a pruning step of every model: the analysis and evaluation at a size and the
        # step (choice and surgery) after it, the median over the steps
        step_s = float(np.median([(r["analyse_ms"] + r["step_ms"]) / 1e3 for r in steps
                                  if r["step_ms"] is not None]))
        epoch_s = timing["train_run_s"] / epochs
        rows.append({"section": "pruning", "what": f"{what}, {cache} cache", "wall_s": wall,
                     "compile_s": timing["train_compile_s"],
                     "run_s": timing["train_run_s"], "prune_s": timing["prune_s"],
                     "s_per_epoch": epoch_s, "s_per_prune_step": step_s,
                     "step_to_epoch": step_s / epoch_s,
                     "prune_s_per_size": timing["prune_s"] / len(steps)})


def bench_rnn(rows, num_devices):
  import jax.numpy as jnp
  from reference_data import rnn_data, rnn_flops
  from eegjax.models import ElmanRNN
  from eegjax.train import TrainConfig, Trainer
  from eegjax.train.folds import fold_subset
  x, y = rnn_data()
  folds, n_train = _folds(len(x), 5)
  folds = _no_scaling(folds, (1, 1))
  data = (jnp.asarray(x), jnp.asarray(y.astype(np.int32)),
          jnp.full((len(x),), x.shape[1], jnp.int32))
  epochs = FLAGS.rnn_epochs
  for label, which in (("one model (fold 0)", [0]), ("5 folds together", None)):
    f = fold_subset(folds, which)
    cfg = TrainConfig(epochs=epochs, batch_size=32, learning_rate=0.003, epochs_per_call=1)
    trainer = Trainer(ElmanRNN(50, 3), cfg, has_val=False, num_devices=num_devices)
    stamps = []
    fit = trainer.fit([0], f, data, log=lambda m: stamps.append(time.perf_counter()))
    per_epoch = np.diff(stamps)           # epoch 1 is in fit.compile_s + the first stamp
    med = float(np.median(per_epoch)) if len(per_epoch) else fit.run_s / epochs
    flops = sum(rnn_flops(n_train[i], 1) for i in (which or range(5)))
    row = {"section": "rnn", "what": f"RNN epoch, {label}", "s_per_epoch": med,
           "compile_s": fit.compile_s, "epochs_measured": epochs,
           "gflops": flops / med / 1e9}
    if which is None:
      acc = float(np.mean(trainer.evaluate(fit.params, f, data)["accuracy"]))
      row.update({"run_s": fit.run_s, "test_accuracy": acc})
      if epochs >= 200:
        row["study_5x200_s"] = fit.run_s * 200 / epochs
        row["study_is"] = "measured"
      else:
        row["study_5x200_s"] = med * 200
        row["study_is"] = f"extrapolated from the median of {len(per_epoch)} epochs"
    rows.append(row)


def bench_angles(rows):
  import jax
  import jax.numpy as jnp
  from eegjax.pruning.distinctiveness import angles_from_gram, gram
  analyse = jax.jit(lambda a: angles_from_gram(gram(a, 0.5)))
  for units, patterns in ((30, 576), (512, 16384), (2048, 16384)):
    a = np.random.default_rng(0).uniform(size=(patterns, units)).astype(np.float32)
    a_dev = jnp.asarray(a)
    reps = FLAGS.repeats if units < 2048 else max(3, FLAGS.repeats // 2)
    t_jax = _median_time(lambda: analyse(a_dev), reps)
    t_np = _median_time(lambda: a.T @ a, reps)
    rows.append({"section": "angles", "what": f"angles {units} units x {patterns} patterns",
                 "ms": 1e3 * t_jax, "numpy_matmul_ms": 1e3 * t_np,
                 "ratio_to_numpy": t_jax / t_np,
                 "gflops": 2 * patterns * units * units / t_jax / 1e9})
    if units * patterns < 10**5:
      # A 30 x 576 call is all dispatch; the study analyses its 100 models in one vmapped
      # call, so also time that, per model (numpy: one matmul per model, in a loop).
      many = np.random.default_rng(1).uniform(size=(100, patterns, units)).astype(np.float32)
      many_dev = jnp.asarray(many)
      vm = jax.jit(jax.vmap(lambda a: angles_from_gram(gram(a, 0.5))))
      t_vm = _median_time(lambda: vm(many_dev), reps) / 100
      t_np_loop = _median_time(lambda: [m.T @ m for m in many], reps) / 100
      rows.append({"section": "angles",
                   "what": f"angles {units} x {patterns}, 100 models vmapped, per model",
                   "ms": 1e3 * t_vm, "numpy_matmul_ms": 1e3 * t_np_loop,
                   "ratio_to_numpy": t_vm / t_np_loop,
                   "gflops": 2 * patterns * units * units / t_vm / 1e9})


def bench_inference(rows):
  import jax
  import jax.numpy as jnp
  from eegjax.evaluate.timing import latency_ms
  from eegjax.models import MLP, ElmanRNN, mlp_from_params, rnn_from_params
  from eegjax.pruning import discover_groups, drop_units, zero_units
  reps = max(10, 4 * FLAGS.repeats)

  def one(name, model, params, group, full, widths, args, from_params):
    base = None
    for w in widths:
      small = drop_units(params, group, list(range(w, full)))
      masked = zero_units(params, group, jnp.arange(full) < w)
      s_model = from_params(small)
      s_ms = latency_ms(jax.jit(lambda p, *a: s_model.apply(p, *a)), small, *args,
                        repeats=reps)
      m_ms = latency_ms(jax.jit(lambda p, *a: model.apply(p, *a)), masked, *args,
                        repeats=reps)
      base = base or s_ms
      rows.append({"section": "inference", "what": f"{name} inference, {w}/{full} units",
                   "structural_ms": s_ms, "masked_ms": m_ms,
                   "structural_speedup": base / s_ms})

  mlp = MLP((30,), 3)
  x = jax.random.uniform(jax.random.key(0), (576, 25))
  def hidden(model, params, *args):       # the first hidden layer, found by discovery
    return [g for g in discover_groups(model.apply, params, *args) if g.prunable][0]

  p = mlp.init(jax.random.key(1), x)
  one("MLP (576 patterns)", mlp, p, hidden(mlp, p, x), 30, (30, 16), (x,), mlp_from_params)
  rnn = ElmanRNN(50, 3)
  xs = jax.random.normal(jax.random.key(0), (39, 2400, 1))
  lengths = jnp.full((39,), 2400)
  p = rnn.init(jax.random.key(1), xs)
  one("RNN (39 x 2400 steps)", rnn, p, hidden(rnn, p, xs, lengths), 50, (50, 25),
      (xs, lengths), rnn_from_params)


def run_reference(rows):
  """The PyTorch reference in the same sitting: MLP seconds per (seed, fold) and RNN
  seconds per epoch of one fold, parsed from its output."""
  py, ref = FLAGS.reference_python, FLAGS.reference
  for script in ("torch_mlp.py", "torch_rnn.py"):
    if not os.path.exists(os.path.join(ref, script)):
      raise app.UsageError(f"--reference={ref}: no {script} there")
  out = subprocess.run([py, "torch_mlp.py", "--folds", "10", "--epochs",
                        str(FLAGS.mlp_epochs), "--seeds", "1", "--max-folds",
                        str(FLAGS.reference_mlp_folds)],
                       cwd=ref, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(f"torch_mlp.py failed: {out.stderr[-2000:]}")
  per = [float(v) for v in re.findall(r"train\s+([\d.]+) s", out.stdout)]
  acc = re.search(r"mean acc train [\d.]+ test ([\d.]+)", out.stdout)
  rows.append({"section": "reference", "what": "PyTorch MLP, s per (seed, fold)",
               "s_per_seed_fold": float(np.median(per)), "samples": len(per),
               "test_accuracy": float(acc.group(1)) if acc else None})
  out = subprocess.run([py, "torch_rnn.py", "--folds", "5", "--train-folds", "1",
                        "--epochs", str(FLAGS.reference_rnn_epochs)],
                       cwd=ref, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(f"torch_rnn.py failed: {out.stderr[-2000:]}")
  epochs = [float(v) for v in re.findall(r"epoch \d+: ([\d.]+) s", out.stdout)]
  rows.append({"section": "reference", "what": "PyTorch RNN, s per epoch of one fold",
               "s_per_epoch": float(np.median(epochs)), "samples": len(epochs),
               "study_5x200_s": float(np.median(epochs)) * 1000,
               "study_is": f"extrapolated from the median of {len(epochs)} epochs"})


def ratios(rows) -> list[str]:
  get = lambda sec, pat: next((r for r in rows if r["section"] == sec  # noqa: E731
                               and pat in r["what"]), None)
  lines = []
  for r in rows:
    if r["section"] == "pruning":
      lines.append(f"{r['what']}: a pruning step of every model (analysis, surgery, "
                   f"evaluation; median) {r['s_per_prune_step']:.3f} s vs a training epoch "
                   f"{r['s_per_epoch']:.3f} s: ratio {r['step_to_epoch']:.2f} (target <= 1);"
                   f" with the inference timing, checkpoint and compiles "
                   f"{r['prune_s_per_size']:.3f} s a size; pruning {r['prune_s']:.0f} s vs "
                   f"training {r['run_s'] + r['compile_s']:.0f} s (compile included); "
                   f"wall {r['wall_s']:.0f} s")
  ref_mlp, ref_rnn = get("reference", "MLP"), get("reference", "RNN")
  if ref_mlp:
    for r in rows:
      if r["section"] in ("mlp", "study") and "ms_per_seed_fold" in r:
        lines.append(f"MLP per (seed, fold): {r['what']}: "
                     f"{1e3 * ref_mlp['s_per_seed_fold'] / r['ms_per_seed_fold']:.0f}x faster "
                     "than PyTorch (target >= 100x)")
  if ref_rnn:
    r = get("rnn", "5 folds")
    if r:
      lines.append(f"RNN study 5 folds x 200 epochs: {ref_rnn['study_5x200_s']:.0f} s "
                   f"PyTorch vs {r['study_5x200_s']:.0f} s eegjax ({r['study_is']}): "
                   f"{ref_rnn['study_5x200_s'] / r['study_5x200_s']:.1f}x (target >= 8x)")
    r1 = get("rnn", "one model")
    if r1:
      lines.append(f"RNN one fold per epoch: {ref_rnn['s_per_epoch']:.3f} s PyTorch vs "
                   f"{r1['s_per_epoch']:.3f} s eegjax: "
                   f"{ref_rnn['s_per_epoch'] / r1['s_per_epoch']:.1f}x")
  return lines


def table(rows) -> str:
  cols = ["what", "compile_s", "run_s", "prune_s", "wall_s", "ms_per_seed_fold",
          "s_per_epoch", "s_per_prune_step", "step_to_epoch",
          "study_5x200_s", "ms", "numpy_matmul_ms", "ratio_to_numpy", "structural_ms",
          "masked_ms", "structural_speedup", "s_per_seed_fold", "gflops", "test_accuracy"]
  used = [c for c in cols if any(c in r for r in rows)]

  def cell(v):
    if v is None:
      return ""
    if isinstance(v, float):
      return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)
  lines = ["| " + " | ".join(used) + " |", "|" + "---|" * len(used)]
  for r in rows:
    lines.append("| " + " | ".join(cell(r.get(c)) for c in used) + " |")
  return "\n".join(lines)


def main(argv):
  del argv
  sys.path.insert(0, HERE)
  from eegjax.train.sharding import setup_devices
  n = setup_devices(FLAGS.num_devices)
  import jax
  from reference_data import digest, mlp_data, rnn_data
  sections = set(FLAGS.sections)
  unknown = sections - set(SECTIONS)
  if unknown:
    raise app.UsageError(f"--sections: unknown {sorted(unknown)}")
  header = (f"eegjax speed benchmark; {len(jax.devices())} {jax.devices()[0].platform} "
            f"device(s), sweeps on {n}; {os.cpu_count()} CPU cores; data: synthetic "
            f"(the PyTorch reference's generator: MLP {digest(*mlp_data())}, RNN "
            f"{digest(*rnn_data())})")
  print(header, flush=True)
  rows = []
  t0 = time.perf_counter()
  for name, fn in (("mlp", lambda: bench_mlp(rows, n)), ("study", lambda: bench_study(rows, n)),
                   ("rnn", lambda: bench_rnn(rows, n)), ("angles", lambda: bench_angles(rows)),
                   ("inference", lambda: bench_inference(rows)),
                   ("pruning", lambda: bench_pruning(rows, n))):
    if name in sections:
      fn()
      print(f"  {name} done ({time.perf_counter() - t0:.0f} s)", flush=True)
  if FLAGS.reference:
    run_reference(rows)
    print(f"  reference done ({time.perf_counter() - t0:.0f} s)", flush=True)
  print(table(rows))
  notes = ratios(rows)
  for line in notes:
    print(line)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump({"header": header, "rows": rows, "ratios": notes,
                 "data": "synthetic (reference_data.py)"}, f, indent=1)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
