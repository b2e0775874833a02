"""Figures of the GAN study: training curves, the discriminators' class heads side by side,
real-beside-fake image grids and class means (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
