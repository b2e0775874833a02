"""Figures of a pruning study: metrics by units pruned, paired differences, angle vs accuracy,
step time, angle matrices (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _series(rows, metric):
  x = np.array([r["units_pruned"] for r in rows])
  s = [r["summary"][metric] for r in rows]
  mean = np.array([v["mean"] for v in s], float)
  lo = np.array([v["ci95"][0] for v in s], float)
  hi = np.array([v["ci95"][1] for v in s], float)
  return x, mean, np.vstack([mean - lo, hi - mean])


def prune_metrics(per_criterion: dict, path: str, title: str) -> None:
  """Accuracy, F1, loss and min angle against units pruned, mean with 95% CI bars."""
  fig, axes = plt.subplots(2, 2, figsize=(10, 7))
  for ax, metric in zip(axes.flat, ("accuracy", "f1", "loss", "min_angle")):
    for criterion, out in per_criterion.items():
      x, mean, err = _series(out["rows"], metric)
      ax.errorbar(x, mean, yerr=np.nan_to_num(err), marker="o", capsize=3, label=criterion)
    ax.set_xlabel("hidden units pruned")
    ax.set_ylabel(metric.replace("_", " ") + (" (deg)" if metric == "min_angle" else ""))
    ax.grid(alpha=0.3)
  axes.flat[0].legend()
  fig.suptitle(f"pruning, test fold as-is (mean, 95% CI) — {title}")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def paired_differences(paired: dict, path: str, title: str) -> None:
  """Each criterion's test accuracy minus distinctiveness's on the same models, against
  units pruned: mean and 95% interval of the corrected resampled t-test."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for criterion, rows in paired.items():
    x = [r["units_pruned"] for r in rows]
    mean = np.array([r["accuracy"]["mean"] for r in rows])
    low = np.array([r["accuracy"]["ci95"][0] for r in rows])
    high = np.array([r["accuracy"]["ci95"][1] for r in rows])
    ax.plot(x, mean, marker="o", label=criterion)
    ax.fill_between(x, low, high, alpha=0.2)
  ax.axhline(0.0, color="black", lw=0.8)
  ax.set_xlabel("hidden units pruned")
  ax.set_ylabel("test accuracy minus distinctiveness's")
  ax.set_title("paired differences (same models), 95% CI of the corrected resampled "
               f"t-test\n{title}", fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def angle_vs_performance(rows, path: str, title: str) -> None:
  """Minimum angle among remaining units against test accuracy, one point per step."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  _, ang, _ = _series(rows, "min_angle")
  _, acc, _ = _series(rows, "accuracy")
  ax.plot(ang, acc, marker="o")
  for r, a, b in zip(rows, ang, acc):
    ax.annotate(str(r["units_pruned"]), (a, b), textcoords="offset points", xytext=(4, 4),
                fontsize=8)
  ax.set_xlabel("minimum angle among remaining units (deg, mean)")
  ax.set_ylabel("test accuracy (mean)")
  ax.set_title(f"distinctiveness: min angle vs accuracy (labels: units pruned)\n{title}",
               fontsize=9)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def exec_time(per_step_ms: dict, path: str, title: str) -> None:
  """Inference time per model against units pruned."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  top = max(r["exec_ms"] for rows in per_step_ms.values() for r in rows)
  scale, unit = (1.0, "ms") if top >= 1.0 else (1e3, "us")
  for criterion, rows in per_step_ms.items():
    ax.plot([r["units_pruned"] for r in rows], [scale * r["exec_ms"] for r in rows],
            marker="o", label=criterion)
  ax.set_xlabel("hidden units pruned")
  ax.set_ylabel(f"inference, one model, 64 test rows ({unit}, median)")
  ax.set_title(f"execution time — {title}", fontsize=9)
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def angles(angle_mats: np.ndarray, path: str, title: str, similar_deg: float,
           complementary_deg: float) -> None:
  """The trained layer's angle matrix (fold 0, seed 0) and the histogram of all models'
  pairwise angles with the thresholds marked."""
  a = np.asarray(angle_mats)
  units = a.shape[-1]
  iu = np.triu_indices(units, 1)
  fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.5))
  im = ax0.imshow(a[0, 0], cmap="coolwarm", vmin=0, vmax=180)   # blue similar, red complementary
  fig.colorbar(im, ax=ax0, label="angle (deg)")
  ax0.set_title("angles between hidden units (fold 0, seed 0)", fontsize=9)
  ax1.hist(a[..., iu[0], iu[1]].ravel(), bins=72, range=(0, 180), color="tab:blue")
  for t in (similar_deg, complementary_deg):
    ax1.axvline(t, color="tab:red", ls="--")
  ax1.set_xlabel("pairwise angle (deg), all seeds and folds")
  ax1.set_ylabel("pairs")
  fig.suptitle(f"trained layer before pruning — {title}")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)

