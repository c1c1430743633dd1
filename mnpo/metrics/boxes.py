"""Score map -> boxes -> best IoU per threshold, exactly as wsolevaluation (METRICS.md §3).

For a quantised map ``q`` (uint8) with maximum ``M``, threshold ``t`` keeps the foreground
``q > int(t * M)``. Boxes come from OpenCV contours (bounding rectangles, right/bottom edge
``min(x + w, W - 1)``); the "largest" mode keeps the contour of largest ``contourArea`` (ties:
first in OpenCV's order), the "all" mode keeps every contour including hole borders (RETR_TREE).
An empty foreground gives the box (0, 0, 0, 0). The IoU counts inclusive pixels.

:func:`best_ious` and :func:`best_ious_by_mode` compute the same numbers without one
``findContours`` per threshold (docs/evaluator.md, METRICS.md §8):

- thresholds with the same mask (same number of pixels above the level) are processed once;
- an empty mask gives (0, 0, 0, 0) and a mask that fills its bounding box (the ROI, from
  prefix maxima of the row and column profiles) gives the ROI, without contours;
- when at most :data:`MAX_CONTOUR_LEVELS` masks remain, each goes through
  ``cv2.findContours`` on its ROI only (``offset=``): ``RETR_EXTERNAL`` for the largest mode
  (same box as ``RETR_TREE`` + max area), ``RETR_LIST`` for the all mode (same boxes as
  ``RETR_TREE``);
- otherwise, or as soon as one mask has more than :data:`MAX_CONTOURS` contours, the map goes
  to the union-find sweeps of :mod:`mnpo.metrics.component_tree`, which handle every threshold
  in one pass over the pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from mnpo.metrics.component_tree import all_best, filled_map, largest_best

ContourMode = Literal["largest", "all"]

MAX_CONTOUR_LEVELS = 8
"""At most this many masks that are neither empty nor a filled rectangle go through OpenCV."""

MAX_CONTOURS = 48
"""More contours than this in one mask hand the map to the component tree."""

MAX_SIDE = 16383
"""Longest map side: the component tree packs pixel coordinates into int32."""


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


RETRIEVAL = {"largest": cv2.RETR_EXTERNAL, "all": cv2.RETR_LIST}
"""OpenCV retrieval per mode: both give the boxes ``RETR_TREE`` gives for that mode."""


def _rect_boxes(
    contours: Sequence[np.ndarray], mode: ContourMode, width: int, height: int
) -> np.ndarray:
    """Boxes (k, 4) ``(x, y, min(x + w, W - 1), min(y + h, H - 1))`` of the contours'
    boundingRect: all of them, or the first of largest ``contourArea`` (mode "largest")."""
    if mode == "largest":
        contours = [max(contours, key=cv2.contourArea)]
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64).reshape(-1, 4)
    x, y, w, h = rects.T
    return np.stack([x, y, np.minimum(x + w, width - 1), np.minimum(y + h, height - 1)], 1)


def mask_boxes(mask: np.ndarray, mode: ContourMode) -> np.ndarray:
    """Boxes (k, 4) of a binary uint8 mask under ``mode``; (0, 0, 0, 0) when empty.

    ``RETR_EXTERNAL`` (largest) and ``RETR_LIST`` (all) give the same boxes as ``RETR_TREE``.
    """
    height, width = mask.shape
    contours = cv2.findContours(mask, RETRIEVAL[mode], cv2.CHAIN_APPROX_SIMPLE)[-2]
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.int64)
    return _rect_boxes(contours, mode, width, height)


def threshold_levels(q: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Integer levels ``int(t * max(q))`` of every threshold (float64 product, truncated)."""
    return (np.asarray(taus, dtype=np.float64) * float(q.max())).astype(np.int64)


def distinct_masks(q: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One level per distinct mask ``{q > int(t * M)}`` over the thresholds.

    Returns:
        levels: (L,) int64, strictly increasing; each stands for one distinct mask.
        counts: (L,) int64 pixels above each level (strictly decreasing).
        index: (K,) int64, threshold k's mask is ``{q > levels[index[k]]}``.
    """
    levels = threshold_levels(q, taus)
    below = np.concatenate([[0], np.cumsum(np.bincount(q.ravel(), minlength=256))])
    above = q.size - below[np.clip(levels + 1, 0, 256)]
    counts, index = np.unique(above, return_inverse=True)
    representative = np.empty(len(counts), dtype=np.int64)
    representative[index] = levels
    last = len(counts) - 1
    return representative[::-1].copy(), counts[::-1].copy(), last - index.reshape(-1)


def _rois(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(L, 4) inclusive bounding boxes ``(x0, y0, x1, y1)`` of ``{q > level}``.

    The first pixel above a level along a profile is where the profile's prefix maximum first
    exceeds it; an empty mask gets ``x0 = W > x1 = -1``.
    """
    height, width = q.shape

    def first_above(profile: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.maximum.accumulate(profile), levels, side="right")

    rows, cols = q.max(1), q.max(0)
    return np.stack(
        [
            first_above(cols),
            first_above(rows),
            width - 1 - first_above(cols[::-1]),
            height - 1 - first_above(rows[::-1]),
        ],
        1,
    )


def _contour_boxes(
    q: np.ndarray, level: int, roi: np.ndarray, mode: ContourMode
) -> np.ndarray | None:
    """Boxes (k, 4) of ``{q > level}`` from contours of its ROI; None past MAX_CONTOURS."""
    height, width = q.shape
    x0, y0, x1, y1 = (int(v) for v in roi)
    mask = (q[y0 : y1 + 1, x0 : x1 + 1] > level).view(np.uint8)
    contours = cv2.findContours(mask, RETRIEVAL[mode], cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))[-2]
    if len(contours) > MAX_CONTOURS:
        return None
    if len(contours) == 1:
        return np.array([[x0, y0, min(x1 + 1, width - 1), min(y1 + 1, height - 1)]])
    return _rect_boxes(contours, mode, width, height)


def _contour_best(
    q: np.ndarray,
    levels: np.ndarray,
    rois: np.ndarray,
    simple: np.ndarray,
    gt: np.ndarray,
    mode: ContourMode,
) -> np.ndarray | None:
    """Per level (L,), the best IoU: ``simple`` levels (empty or solid) from the ROI, the others
    from OpenCV contours; None when a mask has more than MAX_CONTOURS contours."""
    height, width = q.shape
    x0, y0, x1, y1 = rois.T
    boxes = np.stack([x0, y0, np.minimum(x1 + 1, width - 1), np.minimum(y1 + 1, height - 1)], 1)
    boxes[rois[:, 0] > rois[:, 2]] = 0
    found = [boxes[k : k + 1] for k in range(len(levels))]
    for k in np.flatnonzero(~simple):
        contour_boxes = _contour_boxes(q, int(levels[k]), rois[k], mode)
        if contour_boxes is None:
            return None
        found[k] = contour_boxes
    starts = np.cumsum([0] + [len(b) for b in found[:-1]])
    return np.maximum.reduceat(iou_matrix(np.concatenate(found), gt).max(1), starts)


def best_ious_by_mode(
    q: np.ndarray,
    taus: np.ndarray,
    gt_boxes: Sequence[Sequence[int]],
    modes: Sequence[ContourMode],
) -> dict[ContourMode, np.ndarray]:
    """Per mode, per threshold, the max IoU over predicted boxes and GT boxes -> (K,) float64.

    The modes share the level analysis and the hole filling of the component tree.

    Args:
        q: (H, W) uint8 quantised score map.
        taus: (K,) thresholds; threshold t keeps ``q > int(t * max(q))``.
        gt_boxes: (n, 4) inclusive GT boxes ``(x0, y0, x1, y1)``; no box gives IoU 0.
        modes: "largest" (largest contourArea) and/or "all" (every contour, hole borders too).
    """
    q = np.ascontiguousarray(q, dtype=np.uint8)
    if max(q.shape) > MAX_SIDE:
        raise ValueError(f"score map of shape {q.shape}: sides above {MAX_SIDE} are not supported")
    gt = np.ascontiguousarray(np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4))
    levels, counts, index = distinct_masks(q, taus)
    if len(gt) == 0 or len(levels) == 0:
        return {mode: np.zeros(len(index), dtype=np.float64) for mode in modes}
    rois = _rois(q, levels)
    x0, y0, x1, y1 = rois.T
    simple = (counts == 0) | (counts == (x1 - x0 + 1) * (y1 - y0 + 1))
    few = np.count_nonzero(~simple) <= MAX_CONTOUR_LEVELS
    filled = None
    result: dict[ContourMode, np.ndarray] = {}
    for mode in modes:
        per_level = _contour_best(q, levels, rois, simple, gt, mode) if few else None
        if per_level is None:
            filled = filled_map(q) if filled is None else filled
            if mode == "largest":
                per_level = largest_best(filled, levels, gt)
            else:
                per_level = all_best(q, filled, levels, gt)
        result[mode] = per_level[index]
    return result


def best_ious(
    q: np.ndarray, taus: np.ndarray, gt_boxes: Sequence[Sequence[int]], mode: ContourMode
) -> np.ndarray:
    """Per threshold, the max IoU over predicted boxes and GT boxes -> (K,) float64.

    Args:
        q: (H, W) uint8 quantised score map.
        taus: (K,) thresholds; threshold t keeps ``q > int(t * max(q))``.
        gt_boxes: (n, 4) inclusive GT boxes ``(x0, y0, x1, y1)``; no box gives IoU 0.
        mode: "largest" (largest contourArea) or "all" (every contour, hole borders included).
    """
    return best_ious_by_mode(q, taus, gt_boxes, (mode,))[mode]


def warm_up() -> None:
    """Load (or compile) the component-tree functions for the argument types best_ious uses,
    e.g. before forking worker processes, so that they inherit them."""
    q = np.zeros((2, 2), dtype=np.uint8)
    levels = np.zeros(1, dtype=np.int64)
    gt = np.zeros((1, 4), dtype=np.int64)
    filled = filled_map(q)
    all_best(q, filled, levels, gt)
    largest_best(filled, levels, gt)


def largest_contour_box(q: np.ndarray, tau: float) -> tuple[int, int, int, int]:
    """The single-contour predicted box of ``q`` at threshold ``tau`` (for figures)."""
    level = int(threshold_levels(q, np.array([tau]))[0])
    x0, y0, x1, y1 = mask_boxes((q > level).astype(np.uint8), "largest")[0]
    return int(x0), int(y0), int(x1), int(y1)
