"""Score map -> boxes -> best IoU per threshold, exactly as wsolevaluation (METRICS.md §3).

For a quantised map ``q`` (uint8) with maximum ``M``, threshold ``t`` keeps the foreground
``q > int(t * M)``. Boxes come from OpenCV contours (bounding rectangles, right/bottom edge
``min(x + w, W - 1)``); the "largest" mode keeps the contour of largest ``contourArea`` (ties:
first in OpenCV's order), the "all" mode keeps every contour including hole borders (RETR_TREE).
An empty foreground gives the box (0, 0, 0, 0). The IoU counts inclusive pixels.

Many thresholds share one integer level ``int(t * M)``; each distinct level is processed once,
which is exact (the same mask gives the same boxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

ContourMode = Literal["largest", "all"]


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Inclusive-pixel IoU between (n, 4) and (m, 4) boxes ``(x0, y0, x1, y1)`` -> (n, m)."""
    a = np.asarray(boxes_a, dtype=np.float64)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64)[None, :, :]
    width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def mask_boxes(mask: np.ndarray, mode: ContourMode) -> np.ndarray:
    """Boxes (k, 4) of a binary uint8 mask under ``mode``; (0, 0, 0, 0) when empty."""
    height, width = mask.shape
    contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.int64)
    if mode == "largest":
        areas = [cv2.contourArea(c) for c in contours]
        contours = [contours[int(np.argmax(areas))]]
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64)
    x, y, w, h = rects.T
    return np.stack([x, y, np.minimum(x + w, width - 1), np.minimum(y + h, height - 1)], 1)


def threshold_levels(q: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Integer levels ``int(t * max(q))`` of every threshold (float64 product, truncated)."""
    return (np.asarray(taus, dtype=np.float64) * float(q.max())).astype(np.int64)


def best_ious(
    q: np.ndarray, taus: np.ndarray, gt_boxes: Sequence[Sequence[int]], mode: ContourMode
) -> np.ndarray:
    """Per threshold, the max IoU over predicted boxes and GT boxes -> (K,) float64."""
    levels = threshold_levels(q, taus)
    gt = np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4)
    result = np.empty(len(levels), dtype=np.float64)
    for level in np.unique(levels):
        mask = (q > level).astype(np.uint8)
        result[levels == level] = iou_matrix(mask_boxes(mask, mode), gt).max()
    return result


def largest_contour_box(q: np.ndarray, tau: float) -> tuple[int, int, int, int]:
    """The single-contour predicted box of ``q`` at threshold ``tau`` (for figures)."""
    level = int(threshold_levels(q, np.array([tau]))[0])
    x0, y0, x1, y1 = mask_boxes((q > level).astype(np.uint8), "largest")[0]
    return int(x0), int(y0), int(x1), int(y1)
