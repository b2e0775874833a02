"""Figures of the alcoholism study: the approaches side by side and the autoencoder's
reconstruction error by epoch (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _band(ax, curves, label, color):
  """Mean over models of per-epoch curves (models, epochs) with a 95% t-band."""
  from eegjax.evaluate.summary import summarize
  c = np.asarray(curves, float).reshape(-1, np.asarray(curves).shape[-1])
  epochs = np.arange(1, c.shape[1] + 1)
  s = [summarize(col[np.isfinite(col)]) for col in c.T]
  mean = np.array([v["mean"] for v in s])
  ax.plot(epochs, mean, color=color, label=label)
  ax.fill_between(epochs, [v["ci95"][0] for v in s], [v["ci95"][1] for v in s],
                  color=color, alpha=0.25)


def reconstruction_curve(train_mse, val_mse, test_mse, path: str, title: str) -> None:
  """The autoencoder's reconstruction MSE per epoch (mean and 95% CI over the models) on
  its training and validation rows, and the test MSE of the kept models."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  _band(ax, train_mse, "training rows", "tab:blue")
  if val_mse is not None:
    _band(ax, val_mse, "validation rows", "tab:orange")
  t = np.asarray(test_mse, float).ravel()
  ax.axhline(t.mean(), color="tab:green", ls="--",
             label=f"test rows, kept model: {t.mean():.4g}")
  ax.set_yscale("log")
  ax.set_xlabel("epoch")
  ax.set_ylabel("reconstruction MSE (min-max scaled features)")
  ax.set_title(f"autoencoder reconstruction error — {title}", fontsize=9)
  ax.legend()
  ax.grid(alpha=0.3, which="both")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def comparison(outcomes, path: str, title: str) -> None:
  """Approaches side by side: test accuracy, precision, recall, F1 (mean, 95% CI bars);
  parameters; inputs per trial; inference ms."""
  from eegjax.evaluate.summary import summarize_metric
  names = [o.approach for o in outcomes]
  metrics = ("accuracy", "precision", "recall", "f1")
  fig, axes = plt.subplots(1, 4, figsize=(15, 4.2), gridspec_kw={"width_ratios": [3, 1, 1, 1]})
  width = 0.8 / len(outcomes)
  for i, o in enumerate(outcomes):
    s = [summarize_metric(m, o.test[m]) for m in metrics]
    mean = np.array([v["mean"] for v in s])
    err = np.vstack([mean - [v["ci95"][0] for v in s], [v["ci95"][1] for v in s] - mean])
    axes[0].bar(np.arange(4) + (i - (len(outcomes) - 1) / 2) * width, mean, width,
                yerr=err, capsize=3, label=o.approach)
  axes[0].set_xticks(np.arange(4), metrics)
  axes[0].set_ylim(0, 1)
  axes[0].set_ylabel("test (mean, 95% CI)")
  axes[0].legend(loc="lower right")
  axes[0].grid(alpha=0.3, axis="y")
  for ax, values, label in (
      (axes[1], [o.num_params for o in outcomes], "classifier parameters"),
      (axes[2], [o.input_floats for o in outcomes], "stored inputs per trial (floats)"),
      (axes[3], [o.inference_ms for o in outcomes], "inference ms (one model, one batch)")):
    ax.bar(names, values, color=[f"C{i}" for i in range(len(outcomes))])
    ax.set_title(label, fontsize=9)
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(alpha=0.3, axis="y")
  fig.suptitle(f"alcoholism study, approaches compared — {title}")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
