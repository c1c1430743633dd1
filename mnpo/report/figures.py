"""Figures (seaborn / matplotlib): CAM comparison grid and box-accuracy-vs-threshold curves.

Both read only pipeline outputs (metric JSONs, score-map ``.npz`` files, the dataset manifest)
and write PNG + PDF atomically. The Agg backend is used, so no display is needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from mnpo.data.images import read_image  # noqa: E402
from mnpo.data.manifest import DatasetManifest  # noqa: E402
from mnpo.io import atomic_path  # noqa: E402


def _save(figure: plt.Figure, png: str | os.PathLike, pdf: str | os.PathLike) -> None:
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    plt.close(figure)


def _label(result: dict[str, Any]) -> str:
    return f"{result['method']}/{result['variant']}"


def curve_frame(metric_paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Long frame of box accuracy per threshold: model, variant, seed, IoU, threshold, accuracy."""
    rows = []
    for path in metric_paths:
        result = json.loads(Path(path).read_text())
        curves = result["curves"]
        for iou, accuracies in curves["box_acc"].items():
            rows.extend(
                {
                    "model": result["model"],
                    "variant": _label(result),
                    "seed": result["seed"],
                    "IoU": f"IoU {iou}",
                    "threshold": t,
                    "box accuracy (%)": a,
                }
                for t, a in zip(curves["thresholds"], accuracies, strict=True)
            )
    return pd.DataFrame(rows)


def plot_threshold_curves(
    metric_paths: Sequence[str | os.PathLike], png: str | os.PathLike, pdf: str | os.PathLike
) -> None:
    """One panel per model, one line per variant and IoU level (mean over seeds, band = sd)."""
    frame = curve_frame(metric_paths)
    grid = sns.relplot(
        data=frame,
        x="threshold",
        y="box accuracy (%)",
        hue="variant",
        style="IoU",
        col="model",
        kind="line",
        errorbar="sd",
        height=3.2,
        aspect=1.2,
        facet_kws={"sharey": True},
    )
    grid.set_titles("{col_name}")
    _save(grid.figure, png, pdf)


def _best_threshold(metric_paths: Sequence[str | os.PathLike]) -> dict[tuple[str, str, int], float]:
    """(model, method/variant, seed) -> best threshold at IoU 50 of its metric file."""
    best = {}
    for path in metric_paths:
        result = json.loads(Path(path).read_text())
        best[(result["model"], _label(result), int(result["seed"]))] = float(
            result["best_threshold"]["50"]
        )
    return best


def _cams_key(path: str | os.PathLike) -> tuple[str, str, int]:
    """(model, method/variant, seed) of a cams path.

    The path is ``.../{model}/seed{seed}/{method}/{variant}/{split}.npz``.
    """
    parts = Path(path).parts
    return parts[-5], f"{parts[-3]}/{parts[-2]}", int(parts[-4].removeprefix("seed"))


def plot_cam_grid(
    manifest: DatasetManifest,
    cams_paths: Sequence[str | os.PathLike],
    metric_paths: Sequence[str | os.PathLike],
    num_images: int,
    png: str | os.PathLike,
    pdf: str | os.PathLike,
) -> None:
    """Rows: the first ``num_images`` images of the split (one per class first, in order).
    Columns: the image with its GT boxes (green), then every (model, variant) map overlaid with
    the box predicted at its best IoU-50 threshold (red, largest contour)."""
    from mnpo.metrics.boxes import largest_contour_box
    from mnpo.metrics.scoremaps import cam_to_scoremap, quantize, rescale_boxes
    from mnpo.steps import load_npz

    best = _best_threshold(metric_paths)
    columns = sorted(cams_paths, key=_cams_key)
    loaded = [load_npz(p) for p in columns]
    split_ids = [str(i) for i in loaded[0]["image_ids"]]
    labels = loaded[0]["labels"]
    chosen = _spread_over_classes(labels, num_images)
    metadata = manifest.split(_split_of(columns[0]))
    size = None
    fig, axes = plt.subplots(
        len(chosen),
        len(columns) + 1,
        figsize=(1.9 * (len(columns) + 1), 1.9 * len(chosen)),
        squeeze=False,
    )
    for row, index in enumerate(chosen):
        image_id = split_ids[index]
        image = read_image(Path(manifest.image_root) / image_id)
        size = size or max(image.size)
        shown = np.asarray(image.resize((size, size)))
        gt = rescale_boxes(metadata.boxes.get(image_id, ()), metadata.image_sizes[image_id], size)
        axes[row, 0].imshow(shown)
        _draw_boxes(axes[row, 0], gt, "lime")
        axes[row, 0].set_ylabel(manifest.class_names[labels[index]], fontsize=7)
        for col, (path, cams) in enumerate(zip(columns, loaded, strict=True), start=1):
            key = _cams_key(path)
            scoremap = cam_to_scoremap(cams["maps"][index], size)
            box = largest_contour_box(quantize(scoremap), best.get(key, 0.5))
            axes[row, col].imshow(shown)
            axes[row, col].imshow(scoremap, cmap="jet", alpha=0.5, vmin=0, vmax=1)
            _draw_boxes(axes[row, col], gt, "lime")
            _draw_boxes(axes[row, col], [box], "red")
            if row == 0:
                axes[row, col].set_title(f"{key[0]}\n{key[1]}", fontsize=7)
    axes[0, 0].set_title("image + GT", fontsize=7)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    _save(fig, png, pdf)


def _split_of(path: str | os.PathLike) -> str:
    return Path(path).stem


def _spread_over_classes(labels: np.ndarray, count: int) -> list[int]:
    """Indices of ``count`` images, cycling over classes in label order (deterministic)."""
    by_class = {c: list(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    chosen: list[int] = []
    depth = 0
    while len(chosen) < min(count, len(labels)):
        for members in by_class.values():
            if depth < len(members) and len(chosen) < count:
                chosen.append(int(members[depth]))
        depth += 1
    return chosen


def _draw_boxes(axis: Any, boxes: Sequence[Sequence[int]], colour: str) -> None:
    for x0, y0, x1, y1 in boxes:
        axis.add_patch(
            plt.Rectangle(
                (x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, color=colour, lw=1.2
            )
        )
