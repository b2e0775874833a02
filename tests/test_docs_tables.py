"""docs/tables.py: the docs' tables are regenerated from their runs' results files, and
--check catches a table that differs from its run."""

import importlib.util
import json
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("doc_tables", REPO / "docs" / "tables.py")
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)


def _steps(accs):
  return {"steps": [{"units_pruned": n, "summary": {"accuracy": {"mean": a}}}
                    for n, a in accs]}


def test_every_marker_in_the_docs_names_a_known_kind_and_is_closed():
  for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
    text = path.read_text()
    opened = re.findall(r"<!-- table: (\w+) ", text)
    assert len(opened) == text.count("<!-- /table -->"), path
    assert len(tables.MARK.findall(text)) == len(opened), path
    assert set(opened) <= set(tables.KINDS), path


def test_a_table_is_rewritten_from_its_run_and_drift_is_seen(tmp_path, monkeypatch):
  run = tmp_path / "workdirs" / "run"
  run.mkdir(parents=True)
  res = {"pruning": {"criteria": {"distinctiveness/mean": _steps([(0, 0.8), (2, 0.7)]),
                                  "random/mean": _steps([(0, 0.8), (2, 0.75)])},
                     "paired_vs_distinctiveness": {"method": "a test", "metrics": {
                         "random/mean": [{"units_pruned": 2, "accuracy": {
                             "mean": 0.05, "p": 0.01, "p_holm": 0.02}}]}}}}
  (run / "results.json").write_text(json.dumps(res))
  monkeypatch.setattr(tables, "REPO", str(tmp_path))
  typed = ("<!-- table: prune workdirs/run sizes=2 -->\n| typed by hand: 0.760 |\n"
           "<!-- /table -->\n")
  missing = []
  out = tables.render(typed, missing)
  assert "| mean | 2 | **0.700** | 0.750 (+0.050, p 0.01 / 0.02) |" in out
  assert "typed by hand" not in out and not missing
  assert tables.render(out, missing) == out          # rendered once: nothing to change
  gone = tables.render(typed.replace("workdirs/run", "workdirs/gone"), missing)
  assert "typed by hand" in gone and missing == ["prune workdirs/gone"]


def test_the_networks_by_sets_table_reads_each_finished_prune_cnn_run(tmp_path, monkeypatch):
  run = tmp_path / "workdirs" / "scp1_prune_deep4"
  run.mkdir(parents=True)
  (run / "results.json").write_text(json.dumps({
      "protocol": {"seeds": [0, 1, 2]},
      "pruning": {"unpruned": {"accuracy": 0.8412, "ci95": [0.8, 0.88]}}}))
  (tmp_path / "workdirs" / "eyes_prune_eegnet").mkdir()       # started, not finished
  monkeypatch.setattr(tables, "REPO", str(tmp_path))
  missing = []
  out = tables.render("<!-- table: cnn_sets workdirs -->\n<!-- /table -->\n", missing)
  assert ("| scp1 | not run | not run | 0.841 (0.800-0.880), 3 seeds | "
          f"{tables.PUBLISHED['scp1'][0]} |") in out
  assert "| eyes | not run | not run | not run | none cited |" in out and not missing
  # on a machine without a run, its cell keeps the text it has (and is reported); a run
  # that is here rewrites its cell
  typed = out.replace("| eyes | not run | not run | not run |",
                      "| eyes | 0.455 (0.329-0.588), 10 seeds | not run | not run |")
  typed = typed.replace("0.841 (0.800-0.880), 3 seeds", "stale")
  again = tables.render(typed, missing)
  assert "| eyes | 0.455 (0.329-0.588), 10 seeds | not run | not run |" in again
  assert "0.841 (0.800-0.880), 3 seeds" in again and "stale" not in again
  assert missing == ["cnn_sets cell workdirs/eyes_prune_shallow"]


def _cnn_run(path, network, ds, acc, variants):
  """A prune_cnn run's results.json and timing.json, as docs/tables.py's `cnn` reads them."""
  path.mkdir(parents=True)
  costs = {k: {"params": p, "macs_per_trial": m}
           for k, p, m in (("unpruned", 1000, 2_000_000), ("25%", 700, 1_500_000),
                           ("50%", 400, 1_000_000))}
  res = {"dataset": {"name": ds}, "model": {"network": network},
         "protocol": {"seeds": [0, 1]},
         "pruning": {"unpruned": {"accuracy": acc, "ci95": [acc - 0.05, acc + 0.05]},
                     "costs": costs, "variants": {
                         f"{c}/mean/{pct}": {"percent": pct, "criterion": c,
                                             "compensation": "mean", "accuracy": a,
                                             "ci95": [a - 0.1, a + 0.1],
                                             **({"vs_random": {"mean": d, "p": p / 2,
                                                               "p_holm": p}}
                                                if c != "random" else {})}
                         for (c, pct), (a, d, p) in variants.items()}}}
  (path / "results.json").write_text(json.dumps(res))
  (path / "timing.json").write_text(json.dumps({"latency": {
      k: {"inference_ms_batch_64": ms} for k, ms in (("unpruned", 10.0), ("25%", 8.0),
                                                     ("50%", 5.0))}}))


def test_the_conv_summary_condenses_each_run_and_falls_back_to_its_docs_table(tmp_path,
                                                                             monkeypatch):
  """One row per network x set: each criterion's accuracy per percentage (bold where Holm
  p < 0.05 against random), parameters, multiply-adds and inference time; a run not on
  this machine is read from its table in docs/cnn.md and reported; none at all: no row."""
  variants = {("distinctiveness", 25): (0.6, -0.1, 0.01), ("magnitude", 25): (0.68, -0.02, 0.4),
              ("random", 25): (0.7, 0, 0), ("distinctiveness", 50): (0.5, 0.0, 1.0),
              ("magnitude", 50): (0.52, 0.02, 0.9), ("random", 50): (0.5, 0, 0)}
  _cnn_run(tmp_path / "workdirs" / "scp1_prune_deep4", "deep4", "scp1", 0.84, variants)
  _cnn_run(tmp_path / "elsewhere" / "eyes_prune_eegnet", "eegnet", "eyes", 0.5, variants)
  monkeypatch.setattr(tables, "REPO", str(tmp_path))
  eyes_table = tables.cnn("elsewhere/eyes_prune_eegnet")
  (tmp_path / "docs").mkdir()
  (tmp_path / "docs" / "cnn.md").write_text(
      "<!-- table: cnn workdirs/eyes_prune_eegnet -->\n" + eyes_table + "<!-- /table -->\n")
  missing = []
  out = tables.render("<!-- table: cnn_summary workdirs -->\n<!-- /table -->\n", missing)
  rows = [line for line in out.splitlines() if line.startswith("| scp1") or
          line.startswith("| eyes") or line.startswith("| scp2")]
  assert rows == [
      f"| scp1 | Deep4 | 0.840 (0.790-0.890) | {tables.PUBLISHED['scp1'][0]} | "
      "**0.600** / 0.680 / 0.700 | 0.500 / 0.520 / 0.500 | 1,000 / 700 / 400 | "
      "2.00M / 1.50M / 1.00M | 10.0 / 8.0 / 5.0 |",
      "| eyes | EEGNet-8,2 | 0.500 (0.450-0.550) | - | **0.600** / 0.680 / 0.700 | "
      "0.500 / 0.520 / 0.500 | 1,000 / 700 / 400 | 2.00M / 1.50M / 1.00M | 10.0 / 8.0 / 5.0 |"]
  assert missing == ["cnn_summary row workdirs/eyes_prune_eegnet (from docs/cnn.md)"]


def test_check_takes_a_run_on_another_cpu_within_its_tolerance_and_nothing_more():
  """docs/tables.py --check: a table regenerated from a run on another instruction set moves
  by float rounding (accuracies, p-values); that passes, and any change of a verdict, a count
  or a word, or an accuracy past CPU_TOLERANCE, does not."""
  docs = ("| none | 16 | **0.759** | 0.689 (-0.069, p 0.06 / 1) | 0.749 (-0.010, p 0.79 / 1) |\n"
          "Unpruned: 0.862 over 50 models; 15,002 parameters.")
  ok = docs.replace("0.759", "0.758").replace("p 0.79", "p 0.81").replace("-0.010", "-0.014")
  assert tables.within_cpu_tolerance(docs, ok)
  assert tables.within_cpu_tolerance(docs, docs)
  tol = tables.CPU_TOLERANCE
  for bad in (docs.replace("0.749", f"{0.749 + tol + 0.001:.3f}"),       # past the tolerance
              docs.replace("p 0.06", "p 0.04"),                          # p crosses 0.05
              docs.replace("**0.759**", "0.759"),                        # a bold mark
              docs.replace("| 16 |", "| 14 |"),                          # a count
              docs.replace("15,002", "15,003"),                          # a size
              docs.replace("50 models", "49 models"),
              docs.replace("none", "mean")):
    assert not tables.within_cpu_tolerance(docs, bad), bad


def test_check_sets_timings_apart_from_results():
  """What a rerun measures anew on any machine (seconds, an inference-ms column) is masked
  before --check compares; an accuracy, a size or a count beside them is not."""
  docs = ("| pruned | accuracy | parameters | inference ms (64 trials) |\n|---|---|---|---|\n"
          "| 25% | 0.641 (0.561-0.718) | 152,961 | 50.2 |\n\n"
          "Training cost: fine-tuning 10 epochs, 286 s for 6 variants (47.7 s a variant).")
  retimed = docs.replace("50.2", "61.0").replace("286 s", "301 s").replace("47.7", "50.2")
  assert tables.without_timings(retimed) == tables.without_timings(docs)
  assert "| 25% | 0.641 (0.561-0.718) | 152,961 | T |" in tables.without_timings(docs)
  for bad in (retimed.replace("0.641", "0.642"), retimed.replace("152,961", "152,960"),
              retimed.replace("10 epochs", "11 epochs"),
              retimed.replace("6 variants", "7 variants")):
    assert tables.without_timings(bad) != tables.without_timings(docs), bad


def _regimes_run(path, labels, unpruned, ci, oneshot, finetune):
  """A prune_mlp / prune_rnn run's results.json and predictions.npz, as docs/tables.py's
  `regimes_summary` reads them: one level at 50% of the MACs, scratch at 0.80, and the best
  oneshot and finetune variants each (accuracy, difference from scratch, Holm p)."""
  import numpy as np
  path.mkdir(parents=True)

  def row(acc):
    return {"level": 50, "summary": {"accuracy": {"mean": acc, "ci95": [acc - .05, acc + .05]}}}
  sec = {"level": "% MACs", "finetune_epochs": 3, "scratch_epochs": 10,
         "plan": {"family": [0, 1]},
         "levels": [{"percent": 50, "units_pruned": 4, "widths": [4], "macs": 100,
                     "params": 50, "macs_fraction": 0.5}],
         "rows": {"scratch": {"scratch": [row(0.8)]},
                  "uniform": {"uniform": [{**row(0.8), "same_as": "scratch"}]},
                  "oneshot": {"magnitude/mean": [row(oneshot[0])]},
                  "finetune": {"random/mean": [row(finetune[0])]}},
         "comparisons": {"method": "a test", "primary": [
             {"level": 50, "compare": f"best {name}", "against": "scratch",
              "accuracy": {"mean": d, "p": p / 2, "p_holm": p}}
             for name, (_, d, p) in (("oneshot", oneshot), ("finetune", finetune))]}}
  (path / "results.json").write_text(json.dumps({
      "summary": {"accuracy": {"ci95": ci}}, "pruning": {"regimes": sec}}))
  np.savez(path / "predictions.npz", labels=np.asarray(labels), unpruned=np.asarray(unpruned))


def test_the_should_i_prune_summary_gives_each_regimes_verdict_and_says_when_at_chance(
    tmp_path, monkeypatch):
  """One row per network x set x level: scratch, the best oneshot and finetune networks with
  their declared comparison against scratch, and the verdict at Holm p < 0.05; a network
  whose unpruned interval reaches the commonest class's share is at chance, so its controls
  are no finding; a run not on this machine keeps its rows, one never run says so."""
  # k folds: 2 folds x 1 seed x 4 rows (-1: padding), 2 of 3 and 4 of 4 right (0.833 a
  # model); the commonest class 4 of 7; the interval is the models' from results.json
  _regimes_run(tmp_path / "workdirs" / "scp1_prune_mlp", [[0, 1, 1, -1], [1, 1, 0, 0]],
               [[[0, 1, 0, 0]], [[1, 1, 0, 0]]], [0.7, 0.95],
               oneshot=(0.6, -0.2, 0.01), finetune=(0.79, -0.01, 1.0))
  # one split: 2 seeds x 4 rows, the commonest class 3 of 4; half right, at chance
  _regimes_run(tmp_path / "workdirs" / "hmd_prune_rnn", [[2, 2, 2, 0]],
               [[[2, 0, 1, 0], [2, 2, 0, 1]]], [0.0, 1.0],
               oneshot=(0.9, 0.1, 0.001), finetune=(0.8, 0.0, 1.0))
  monkeypatch.setattr(tables, "REPO", str(tmp_path))
  missing = []
  marker = "<!-- table: regimes_summary workdirs levels=near50 -->\n"
  out = tables.render(marker + "<!-- /table -->\n", missing)
  assert ("| MLP | scp1 | 0.833 (0.700-0.950) / 0.571 | 50% | 0.800 (0.750-0.850) | "
          "0.600 (0.550-0.650) magnitude/mean; -0.200, Holm p 0.01 | 0.790 (0.740-0.840) "
          "random/mean; -0.010, Holm p 1 | oneshot worse; finetune not told apart |") in out
  rnn = next(line for line in out.splitlines() if line.startswith("| RNN | hmd | "))
  assert rnn.startswith("| RNN | hmd | 0.500 (") and " / 0.750 | 50% | " in rnn
  assert rnn.endswith("| unpruned at chance: no finding |")
  assert "| Deep4 | scp1 | not run with the controls |" in out and not missing
  # the MLP's run gone from this machine: its row stays as it was, and is reported
  (tmp_path / "workdirs" / "scp1_prune_mlp" / "results.json").unlink()
  again = tables.render(out, missing)
  assert again == out and missing == ["regimes_summary rows workdirs/scp1_prune_mlp"]
