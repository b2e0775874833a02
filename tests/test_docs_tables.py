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
