"""PNG plots of a pruning study (matplotlib, no display needed)."""

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


def image_grid(images, row_names, path: str, title: str) -> None:
  """Generated EEG images (rows, cols, H, W, 3) in [-1, 1]: theta, alpha and beta shown
  as the red, green and blue channels."""
  images = np.asarray(images)
  rows, cols = images.shape[:2]
  fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows + 0.4), squeeze=False)
  for r in range(rows):
    for c in range(cols):
      ax = axes[r, c]
      ax.imshow(np.clip((images[r, c] + 1) / 2, 0, 1))
      ax.set_xticks([])
      ax.set_yticks([])
      if c == 0:
        ax.set_ylabel(row_names[r], fontsize=9)
  fig.suptitle(f"{title}\n(red theta, green alpha, blue beta)", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def gan_curves(per_variant: dict, path: str, title: str, has_val: bool = True) -> None:
  """Per epoch, mean over the models: D_total and G (train) and the losses and real/fake
  confidences on validation (on the test part when there is no validation part), one
  line per generator variant."""
  p = "val" if has_val else "test"
  panels = (("train/D_total", "train/G"), (f"{p}/D_cls", f"{p}/D_adv"),
            (f"{p}/D_adv_real", f"{p}/D_adv_fake"), (f"{p}/D_cls_real", f"{p}/D_cls_fake"))
  fig, axes = plt.subplots(1, 4, figsize=(17, 4))
  for ax, keys in zip(axes, panels):
    for i, (variant, hist) in enumerate(per_variant.items()):
      for key, style in zip(keys, ("-", "--")):
        h = np.asarray(hist[key])
        ax.plot(np.arange(1, h.shape[-1] + 1), np.nanmean(h.reshape(-1, h.shape[-1]), 0),
                style, color=f"C{i}", label=f"{variant} {key}")
    ax.set_xlabel("epoch")
    ax.set_title(" / ".join(keys), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
  fig.suptitle(f"GAN training (mean over models) — {title}")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def gan_comparison(outcomes: dict, dense, path: str, title: str) -> None:
  """The discriminators' class heads (and the dense classifier) on the real test images:
  accuracy and F1 with 95% CI; generator and discriminator parameters."""
  from eegjax.evaluate.summary import summarize_metric
  names = list(outcomes) + (["dense"] if dense is not None else [])
  tests = [o["test"] for o in outcomes.values()] + ([dense["test"]] if dense else [])
  fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
  width = 0.8 / len(names)
  for i, (name, t) in enumerate(zip(names, tests)):
    s = [summarize_metric(m, t[m]) for m in ("accuracy", "precision", "recall", "f1")]
    mean = np.array([v["mean"] for v in s])
    err = np.vstack([mean - [v["ci95"][0] for v in s], [v["ci95"][1] for v in s] - mean])
    ax0.bar(np.arange(4) + (i - (len(names) - 1) / 2) * width, mean, width, yerr=err,
            capsize=3, label=name)
  ax0.set_xticks(np.arange(4), ["accuracy", "precision", "recall", "F1"])
  ax0.set_ylim(0, 1)
  ax0.set_ylabel("real test images (mean, 95% CI)")
  ax0.legend(fontsize=8, loc="lower right")
  ax0.grid(alpha=0.3, axis="y")
  x = np.arange(len(outcomes))
  ax1.bar(x - 0.2, [o["g_params"] for o in outcomes.values()], 0.4, label="generator")
  ax1.bar(x + 0.2, [o["d_params"] for o in outcomes.values()], 0.4, label="discriminator")
  ax1.set_xticks(x, list(outcomes), rotation=20)
  ax1.set_title("parameters", fontsize=9)
  ax1.legend(fontsize=8)
  fig.suptitle(f"GAN variants: discriminator as classifier — {title}")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _rgb(img):
  return np.clip((np.asarray(img) + 1) / 2, 0, 1)


def _head(ax, inside) -> None:
  ax.contour(np.asarray(inside, float), levels=[0.5], colors="white", linewidths=0.8)
  ax.set_xticks([])
  ax.set_yticks([])


def real_beside_fake(real, fake, class_names, inside, path: str, title: str) -> None:
  """Per class (a row): real images, then generated ones (lists per class of (k, H, W, 3)
  in [-1, 1]); theta, alpha and beta as red, green and blue on one scale, the head's
  outline drawn."""
  k = max(max(len(r) for r in real), max(len(f) for f in fake), 1)
  fig, axes = plt.subplots(len(class_names), 2 * k, figsize=(1.4 * 2 * k, 1.5 *
                                                             len(class_names) + 0.6),
                           squeeze=False)
  for r, name in enumerate(class_names):
    for c in range(2 * k):
      ax = axes[r, c]
      imgs, i = (real[r], c) if c < k else (fake[r], c - k)
      if i < len(imgs):
        ax.imshow(_rgb(imgs[i]))
        _head(ax, inside)
      else:
        ax.axis("off")
      if r == 0:
        ax.set_title("real" if c < k else "generated", fontsize=8)
      if c == 0:
        ax.set_ylabel(name, fontsize=9)
  fig.suptitle(f"{title}\n(red theta, green alpha, blue beta; real left, generated right)",
               fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def class_means(real, fake, class_names, inside, path: str, title: str) -> None:
  """Per class: the mean real image, the mean generated image (RGB as in
  `real_beside_fake`) and their difference per band (generated - real, one symmetric
  scale for the whole figure)."""
  diff = [np.asarray(f) - np.asarray(r) for r, f in zip(real, fake)]
  lim = max(float(np.abs(d).max()) for d in diff) or 1.0
  bands = ("theta", "alpha", "beta")
  fig, axes = plt.subplots(len(class_names), 5, figsize=(9, 1.9 * len(class_names) + 0.6),
                           squeeze=False)
  im = None
  for r, name in enumerate(class_names):
    for c, (img, label) in enumerate(((real[r], "real mean"), (fake[r], "generated mean"))):
      axes[r, c].imshow(_rgb(img))
      _head(axes[r, c], inside)
      axes[r, c].set_title(label, fontsize=8)
    for b in range(3):
      ax = axes[r, 2 + b]
      im = ax.imshow(diff[r][..., b], cmap="coolwarm", vmin=-lim, vmax=lim)
      ax.contour(np.asarray(inside, float), levels=[0.5], colors="black", linewidths=0.8)
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_title(f"difference, {bands[b]}", fontsize=8)
    axes[r, 0].set_ylabel(name, fontsize=9)
  fig.colorbar(im, ax=axes[:, 2:].ravel().tolist(), shrink=0.8)
  fig.suptitle(title, fontsize=9)
  fig.savefig(path, dpi=100)
  plt.close(fig)
