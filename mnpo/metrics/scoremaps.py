"""From a raw CAM to the evaluator's score map, exactly as wsolevaluation (METRICS.md §2-3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np


def resize_cam(cam: np.ndarray, size: int) -> np.ndarray:
    """float64 bicubic (cv2.INTER_CUBIC) resize of a 2-D map to ``size x size``."""
    return cv2.resize(
        np.asarray(cam, dtype=np.float64), (size, size), interpolation=cv2.INTER_CUBIC
    )


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a NaN anywhere or a constant map gives all zeros.

    Raises:
        ValueError: the map holds an infinity (upstream turns it into NaN and then fails).
    """
    cam = np.asarray(cam, dtype=np.float64)
    if np.isnan(cam).any():
        return np.zeros_like(cam)
    if np.isinf(cam).any():
        raise ValueError("score map holds an infinite value")
    low, high = cam.min(), cam.max()
    if low == high:
        return np.zeros_like(cam)
    return (cam - low) / (high - low)


def cam_to_scoremap(cam: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize to ``size`` then min-max normalisation (float64, never in place)."""
    return normalize_scoremap(resize_cam(cam, size))


def quantize(scoremap: np.ndarray) -> np.ndarray:
    """``(s * 255).astype(uint8)``: truncation, as upstream."""
    return (np.asarray(scoremap, dtype=np.float64) * 255).astype(np.uint8)


def thresholds(interval: float) -> np.ndarray:
    """wsolevaluation's grid ``np.arange(0, 1, interval)``."""
    return np.arange(0, 1, interval)


def paper_thresholds() -> np.ndarray:
    """The MNPO authors' grid ``np.arange(0.05, 0.35, 0.01)`` (30 values)."""
    return np.arange(0.05, 0.35, 0.01)


def rescale_boxes(
    boxes: Iterable[Sequence[int]], image_size: tuple[int, int], size: int
) -> list[tuple[int, int, int, int]]:
    """Inclusive boxes of a (w, h) image at ``size x size``: ``int(x * size / w)`` each."""
    width, height = image_size
    return [
        (int(x0 * size / width), int(y0 * size / height), int(x1 * size / width),
         int(y1 * size / height))
        for x0, y0, x1, y1 in boxes
    ]  # fmt: skip
