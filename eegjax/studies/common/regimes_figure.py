"""The controls' figure: accuracy against compute (multiply-adds per trial) or size
(parameters), one line per criterion x regime, shared by the pruning studies."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def accuracy_vs_cost(oneshot: dict, controls: dict, unpruned: float, path: str, title: str,
                     cost: str = "macs") -> None:
  """Test accuracy (mean, 95% band over the models) against the network's cost (`cost`:
  "macs", multiply-adds per trial, or "params"): one line per criterion x regime (oneshot
  at every size in `oneshot`, {variant: rows with units_pruned and summary}; finetune at
  the regimes' levels; each criterion under the compensation with the best mean accuracy
  over those points, named in the legend), the scratch networks (and uniform ones where
  they differ) and the unpruned network (`unpruned`, its mean accuracy) at the cost of
  controls["costs"]["0"]."""
  costs = controls["costs"]
  fig, ax = plt.subplots(figsize=(8, 5.5))

  def line(points, label, style):
    points = sorted(points)
    x = np.array([p[0] for p in points], float)
    mean = np.array([p[1]["mean"] for p in points])
    lo = np.array([p[1]["ci95"][0] for p in points])
    hi = np.array([p[1]["ci95"][1] for p in points])
    (h,) = ax.plot(x, mean, style, label=label)
    ax.fill_between(x, lo, hi, color=h.get_color(), alpha=0.12)

  def best(by_variant, criterion):
    names = [n for n in by_variant if n.split("/")[0] == criterion]
    return max(names, key=lambda n: np.mean([r["summary"]["accuracy"]["mean"]
                                             for r in by_variant[n]]), default=None)
  criteria = list(dict.fromkeys(n.split("/")[0] for n in oneshot))
  for regime, by_variant, style in (("oneshot", oneshot, "o-"),
                                    ("finetune", controls["rows"].get("finetune", {}), "s--")):
    for c in criteria:
      name = best(by_variant, c)
      if name is not None:
        line([(costs[str(r["units_pruned"])][cost], r["summary"]["accuracy"])
              for r in by_variant[name]], f"{regime}: {name}", style)
  for regime, style in (("scratch", "k^-"), ("uniform", "kv:")):
    rows = [r for r in controls["rows"].get(regime, {}).get(regime, []) if not r.get("same_as")]
    if rows:
      key = "macs" if cost == "macs" else "params"
      line([(r[key], r["summary"]["accuracy"]) for r in rows], regime, style)
  ax.errorbar([costs["0"][cost]], [unpruned], fmt="k*", markersize=12, label="unpruned")
  ax.set_xlabel("multiply-adds per trial" if cost == "macs" else "parameters")
  ax.set_ylabel("test accuracy")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, ncol=2)
  ax.set_title(f"accuracy against {'compute' if cost == 'macs' else 'size'} (mean, 95% band) "
               f"— {title}", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
