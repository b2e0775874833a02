"""One lifecycle for every study: a study computes and returns its `Results`; `run_study`
opens the workdir, checks that it holds this run (or none), returns a finished run's
results.json without redoing anything, records the run's identity, calls the study, and
writes every results file in one order -- results.json first (with the `.results_pending`
marker), then the tables, texts, arrays, figures and timing.json, then the closing line,
which removes the marker -- so a run stopped anywhere in between is not taken as finished
and its rerun writes them all again from its checkpoints. A user's mistake, a full disk,
Ctrl-C and SIGTERM end a binary in one line (`eegjax.run.flags.exit_on_user_error`, which
wraps every binary's main).

    def study(wd):                      # what the study computes, given its workdir
      ...
      return Results(results, tables={"prune_table.csv": (header, rows)},
                     figures=[("angles.png", lambda path: figures.angles(..., path))],
                     closing="pruning 12.3s")
    results = run_study(cfg, flagfile_text, study)

Files a study writes while it runs (checkpoints, per-epoch image grids and logs of a GAN,
the log) are progress, not results: they are kept where a rerun resumes from them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Sequence

from eegjax.jsonable import to_json
from eegjax.run import flags, identity
from eegjax.run.workdir import Workdir


@dataclasses.dataclass
class Results:
  """What a study returns for the runner to write, in this order:
    results:  results.json (deterministic: no timings, no paths)
    tables:   {name.csv: (header, rows)}, each row naming the dataset (Workdir.write_csv)
    texts:    {name: text} (markdown summaries)
    arrays:   {name.npz: {key: array}} (history.npz, predictions.npz)
    figures:  [(name, draw)]: draw(path) writes the figure at the workdir's path of name
    timing:   timing.json (wall times; the runner adds total_s, the whole run's)
    lines:    log lines said before the closing one (the run's headline figures)
    closing:  what the closing line says of the run's times ("training 3.1s"), before
              the total the runner adds
  """
  results: dict
  tables: dict = dataclasses.field(default_factory=dict)
  texts: dict = dataclasses.field(default_factory=dict)
  arrays: dict = dataclasses.field(default_factory=dict)
  figures: Sequence[tuple[str, Callable[[str], None]]] = ()
  timing: Optional[dict] = None
  lines: Sequence[str] = ()
  closing: str = ""

  def names(self) -> list[str]:
    """The files written, in the order written."""
    return (["results.json", *self.tables, *self.texts, *self.arrays,
             *(name for name, _ in self.figures)]
            + (["timing.json"] if self.timing is not None else []))


def open_run(cfg, flagfile_text: Optional[str]) -> tuple[Workdir, bool]:
  """Opens cfg.workdir (cfg: a study config with workdir, overwrite and to_json()),
  refusing a started run made with other settings (its config.json is the run's identity:
  `eegjax.run.identity`). Returns (workdir, finished): a finished run is said and left as
  it is; otherwise config.json and flags.cfg (the flags that replay the run, when the
  binary gives them) are (re)written."""
  wd = Workdir(cfg.workdir, overwrite=cfg.overwrite)
  wd.check_same_run(identity.of(cfg, flags.RENAMED))
  if wd.finished:
    wd.log(f"{wd.path} already holds this finished run (results.json); nothing to do. "
           "Pass --overwrite to run it afresh")
    return wd, True
  if flagfile_text is not None:
    wd.write_text("flags.cfg", flagfile_text)
  wd.write_json("config.json", cfg.to_json())
  return wd, False


def write_results(wd: Workdir, out: Results, t_start: float) -> None:
  """Writes every results file of `out`, then the closing line (see `Results`)."""
  wd.write_json("results.json", out.results)
  for name, (header, rows) in out.tables.items():
    wd.write_csv(name, header, rows)
  for name, text in out.texts.items():
    wd.write_text(name, text)
  for name, arrays in out.arrays.items():
    wd.write_npz(name, **arrays)
  for name, draw in out.figures:
    draw(wd.file(name))
  total_s = time.perf_counter() - t_start
  if out.timing is not None:
    wd.write_json("timing.json", {**out.timing, "total_s": total_s})
  for line in out.lines:
    wd.log(line)
  times = ", ".join(([out.closing] if out.closing else []) + [f"total {total_s:.1f}s"])
  wd.finish(f"wrote {wd.path}: {' '.join(out.names())} ({times})")


def run_study(cfg, flagfile_text: Optional[str], study: Callable[[Workdir], Results]) -> dict:
  """A study's whole run (see the module's docstring); returns its results.json as JSON."""
  t_start = time.perf_counter()
  wd, finished = open_run(cfg, flagfile_text)
  if finished:
    return wd.read_json("results.json")
  out = study(wd)
  write_results(wd, out, t_start)
  return to_json(out.results)
