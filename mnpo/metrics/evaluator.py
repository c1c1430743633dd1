"""Streaming evaluation of score maps under the ``wsoleval`` or ``paper`` protocol.

Memory is constant in the number of images: per threshold and IoU level only integer counts
are kept. Protocols (METHOD.md §10.6, METRICS.md §3-5):

- ``wsoleval``: thresholds ``arange(0, 1, interval)``; ``max_box_acc`` per IoU level with the
  largest contour (MaxBoxAcc); ``max_box_acc_v2`` = mean over IoU levels with all contours
  (MaxBoxAccV2) and ``max_box_acc_v2_iou`` per level; with logits ``gt_known_loc``,
  ``top1_loc``, ``top5_loc`` (IoU 50, largest contour, each at its own best threshold) and
  ``top1_cls`` / ``top5_cls``; with masks ``pxap``. All in percent, higher is better.
- ``paper``: thresholds 0.05..0.34, largest contour, IoU 50; ``gt_known_loc_error``,
  ``top1_loc_error``, ``top5_loc_error`` = 100 - accuracy at each metric's own best threshold
  (the MNPO authors' reporting), plus ``max_box_acc`` at IoU 50 and classification accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mnpo.data.metadata import Metadata
from mnpo.metrics.boxes import best_ious
from mnpo.metrics.masks import PxAPAccumulator, read_gt_mask
from mnpo.metrics.scoremaps import (
    cam_to_scoremap,
    paper_thresholds,
    quantize,
    rescale_boxes,
    thresholds,
)

Protocol = Literal["wsoleval", "paper"]


class ScoreMapError(ValueError):
    """A score map that is missing or malformed; the message names the image id."""


def top_k_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: the label is among the ``k`` largest logits (stable order, first index wins)."""
    order = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (order == labels[:, None]).any(1)


def _best(counts: np.ndarray, taus: np.ndarray, n: int) -> tuple[float, float, int]:
    """(max accuracy %, its first-argmax threshold, that index)."""
    index = int(np.argmax(counts))
    return 100.0 * counts[index] / n, float(taus[index]), index


def _checked(image_id: str, scoremap: np.ndarray, size: int, raw: bool) -> np.ndarray:
    array = np.asarray(scoremap)
    if array.ndim != 2:
        raise ScoreMapError(f"score map of {image_id!r} must be 2-D, got shape {array.shape}")
    if raw:
        return cam_to_scoremap(array, size)
    if array.shape != (size, size):
        raise ScoreMapError(
            f"score map of {image_id!r} has shape {array.shape}, expected ({size}, {size})"
        )
    array = array.astype(np.float64)
    if np.isnan(array).any():
        return np.zeros_like(array)
    if array.min() < 0 or array.max() > 1:
        raise ScoreMapError(f"score map of {image_id!r} has values outside [0, 1]")
    return array


def evaluate_scoremaps(
    metadata: Metadata,
    scoremaps: Iterable[tuple[str, np.ndarray]],
    *,
    protocol: Protocol = "wsoleval",
    cam_curve_interval: float = 0.01,
    iou_thresholds: Sequence[int] = (30, 50, 70),
    multi_contour: bool | None = None,
    logits: np.ndarray | None = None,
    mask_root: Path | None = None,
    size: int = 224,
    raw: bool = False,
) -> dict[str, Any]:
    """Evaluate one split's score maps; returns the JSON-ready result (see module docstring).

    Args:
        metadata: the split (GT boxes, labels, original sizes; masks for PxAP).
        scoremaps: ``(image_id, map)``; with ``raw=False`` maps are normalised [0, 1] at
            ``size x size`` (NaN maps become zeros), with ``raw=True`` raw CAMs of any size.
        logits: (N, K) in ``metadata.image_ids`` order, for top-1/top-5 metrics.
        mask_root: folder of the mask PNGs; PxAP is computed when given.
        multi_contour: ``wsoleval`` only; False skips the all-contour (V2) pass.

    Raises:
        ScoreMapError: a map missing for an image id, a duplicate, a wrong shape.
    """
    paper = protocol == "paper"
    taus = paper_thresholds() if paper else thresholds(cam_curve_interval)
    levels = (50,) if paper else tuple(int(i) for i in iou_thresholds)
    modes = ["largest"] if paper or multi_contour is False else ["largest", "all"]
    labels = np.asarray(metadata.labels(), dtype=np.int64)
    n = len(metadata.image_ids)
    index_of = {image_id: i for i, image_id in enumerate(metadata.image_ids)}
    top1 = top5 = None
    if logits is not None:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.shape[0] != n:
            raise ScoreMapError(f"logits have {logits.shape[0]} rows for {n} images")
        top1, top5 = top_k_correct(logits, labels, 1), top_k_correct(logits, labels, 5)
    counts = {(m, d): np.zeros(len(taus), dtype=np.int64) for m in modes for d in levels}
    loc_counts = {k: np.zeros(len(taus), dtype=np.int64) for k in ("top1", "top5")}
    pxap = PxAPAccumulator(taus) if mask_root is not None else None
    seen: set[str] = set()
    for image_id, scoremap in scoremaps:
        if image_id not in index_of:
            raise ScoreMapError(f"score map for unknown image id {image_id!r}")
        if image_id in seen:
            raise ScoreMapError(f"two score maps for image id {image_id!r}")
        seen.add(image_id)
        index = index_of[image_id]
        smap = _checked(image_id, scoremap, size, raw)
        q = quantize(smap)
        gt = rescale_boxes(metadata.boxes.get(image_id, ()), metadata.image_sizes[image_id], size)
        for mode in modes:
            ious = best_ious(q, taus, gt, mode)
            for level in levels:
                hit = ious >= level / 100
                counts[(mode, level)] += hit
                if mode == "largest" and level == 50 and top1 is not None:
                    loc_counts["top1"] += hit & top1[index]
                    loc_counts["top5"] += hit & top5[index]
        if pxap is not None:
            pxap.add(smap, read_gt_mask(mask_root, metadata.masks[image_id], size))
    missing = [i for i in metadata.image_ids if i not in seen]
    if missing:
        raise ScoreMapError(f"no score map for image id {missing[0]!r} ({len(missing)} missing)")
    return _result(counts, loc_counts, top1, top5, pxap, taus, levels, modes, n, paper) | {
        "settings": {
            "protocol": protocol,
            "thresholds": "0.05:0.01:0.34" if paper else f"arange(0, 1, {cam_curve_interval})",
            "iou_thresholds": list(levels),
            "contour_modes": modes,
            "size": size,
            "raw": raw,
        }
    }


def _result(
    counts: dict[tuple[str, int], np.ndarray],
    loc_counts: dict[str, np.ndarray],
    top1: np.ndarray | None,
    top5: np.ndarray | None,
    pxap: PxAPAccumulator | None,
    taus: np.ndarray,
    levels: tuple[int, ...],
    modes: list[str],
    n: int,
    paper: bool,
) -> dict[str, Any]:
    result: dict[str, Any] = {"num_images": n, "max_box_acc": {}, "best_threshold": {}}
    curves: dict[str, Any] = {"thresholds": taus.tolist(), "box_acc": {}}
    for level in levels:
        acc, tau, index = _best(counts[("largest", level)], taus, n)
        result["max_box_acc"][str(level)] = acc
        result["best_threshold"][str(level)] = tau
        result.setdefault("best_threshold_index", {})[str(level)] = index
        result.setdefault("num_correct", {})[str(level)] = int(counts[("largest", level)][index])
        curves["box_acc"][str(level)] = (100.0 * counts[("largest", level)] / n).tolist()
    if "all" in modes:
        per_level = {str(d): _best(counts[("all", d)], taus, n)[0] for d in levels}
        result["max_box_acc_v2_iou"] = per_level
        result["max_box_acc_v2"] = float(np.mean(list(per_level.values())))
        curves["box_acc_v2"] = {str(d): (100.0 * counts[("all", d)] / n).tolist() for d in levels}
    if top1 is not None and 50 in levels:
        gt_known = result["max_box_acc"]["50"]
        top1_loc = _best(loc_counts["top1"], taus, n)[0]
        top5_loc = _best(loc_counts["top5"], taus, n)[0]
        if paper:
            result |= {
                "gt_known_loc_error": 100.0 - gt_known,
                "top1_loc_error": 100.0 - top1_loc,
                "top5_loc_error": 100.0 - top5_loc,
            }
        else:
            result |= {"gt_known_loc": gt_known, "top1_loc": top1_loc, "top5_loc": top5_loc}
        result["top1_cls"] = 100.0 * float(top1.mean())
        result["top5_cls"] = 100.0 * float(top5.mean())
    if pxap is not None:
        precision, recall = pxap.curve()
        result["pxap"] = pxap.pxap()
        curves["pxap"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    result["curves"] = curves
    return result
