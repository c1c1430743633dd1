"""PxAP (pixel average precision) with streaming histograms (METRICS.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mnpo.data.metadata import MaskAnnotation


def read_gt_mask(root: Path, annotation: MaskAnnotation, size: int) -> np.ndarray:
    """(size, size) uint8: 1 foreground (OR of instance masks), 0 background, 255 ignore.

    Each PNG is read as grey, resized with INTER_NEAREST and counted where value / 255 > 0.5.
    """

    def load(relative: str) -> np.ndarray:
        path = root / relative
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"{path}: mask file missing or not an image")
        resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)
        return resized.astype(np.float64) / 255 > 0.5

    foreground = np.zeros((size, size), dtype=bool)
    for relative in annotation.masks:
        foreground |= load(relative)
    result = foreground.astype(np.uint8)
    if annotation.ignore:
        result[load(annotation.ignore) & ~foreground] = 255
    return result


class PxAPAccumulator:
    """Histograms of scores over GT foreground / background pixels, per bin edge.

    Edges are ``[t_0, ..., t_{K-1}, 1, 2, 3]`` with ``np.histogram`` semantics.
    """

    def __init__(self, taus: Sequence[float]) -> None:
        self.edges = np.concatenate([np.asarray(taus, dtype=np.float64), [1.0, 2.0, 3.0]])
        self.fg = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self.bg = np.zeros(len(self.edges) - 1, dtype=np.int64)

    def add(self, scoremap: np.ndarray, gt_mask: np.ndarray) -> None:
        self.fg += np.histogram(scoremap[gt_mask == 1], bins=self.edges)[0]
        self.bg += np.histogram(scoremap[gt_mask == 0], bins=self.edges)[0]

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(precision, recall) per edge from high to low, where TP + FP > 0."""
        tp = np.cumsum(self.fg[::-1])
        fp = np.cumsum(self.bg[::-1])
        valid = (tp + fp) > 0
        precision = tp[valid] / (tp + fp)[valid]
        recall = tp[valid] / max(int(self.fg.sum()), 1)
        return precision, recall

    def pxap(self) -> float:
        """``100 * sum_j precision_j * (recall_j - recall_{j-1})`` over valid edges."""
        precision, recall = self.curve()
        return float(100 * np.sum(precision[1:] * np.diff(recall)))
