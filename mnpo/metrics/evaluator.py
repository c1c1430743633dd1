"""Streaming evaluation of score maps under the ``wsoleval`` or ``paper`` protocol.

Memory is constant in the number of images: per threshold and IoU level only integer counts
are kept. Protocols (METHOD.md §10.6, METRICS.md §3-5):

- ``wsoleval``: thresholds ``arange(0, 1, interval)``; ``max_box_acc`` per IoU level with the
  largest contour (MaxBoxAcc); ``max_box_acc_v2`` = mean over IoU levels with all contours
  (MaxBoxAccV2) and ``max_box_acc_v2_iou`` per level; ``gt_known_loc`` (IoU 50, largest
  contour); with logits ``top1_loc``, ``top5_loc`` (each at its own best threshold) and
  ``top1_cls`` / ``top5_cls``; with masks ``pxap``. All in percent, higher is better.
- ``paper``: thresholds 0.05..0.34, largest contour, IoU 50; ``gt_known_loc_error``,
  ``top1_loc_error``, ``top5_loc_error`` (the last two with logits) = 100 - accuracy at each
  metric's own best threshold (the MNPO authors' reporting), plus ``max_box_acc`` at IoU 50 and
  classification accuracy.

Images are independent and every count is an integer, so chunks of images go to worker
processes (``workers``) and their counts are summed: the result does not depend on the number
of workers. Box extraction is in :mod:`mnpo.metrics.boxes` (docs/evaluator.md).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mnpo.data.metadata import MaskAnnotation, Metadata
from mnpo.metrics.boxes import ContourMode, best_ious_by_mode, warm_up
from mnpo.metrics.masks import PxAPAccumulator, read_gt_mask
from mnpo.metrics.scoremaps import (
    cam_to_scoremap,
    paper_thresholds,
    quantize,
    rescale_boxes,
    thresholds,
)

Protocol = Literal["wsoleval", "paper"]

CHUNK = 16
"""Images per task sent to a worker process."""

MIN_PARALLEL = 64
"""Splits with fewer images are evaluated in-process (starting workers would cost more)."""


class ScoreMapError(ValueError):
    """A score map that is missing or malformed; the message names the image id."""


def top_k_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: the label is among the ``k`` largest logits (stable order, first index wins)."""
    order = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (order == labels[:, None]).any(1)


def default_workers() -> int:
    """``min(2, os.cpu_count())``: the number of worker processes when none is given."""
    return min(2, os.cpu_count() or 1)


def load_scoremap(path: Path, image_id: str) -> np.ndarray:
    """The array in ``path`` (.npy, no pickle).

    Raises:
        ScoreMapError: the file is missing or not a .npy array; the message names the id.
    """
    if not path.is_file():
        raise ScoreMapError(f"{path}: no score map for image id {image_id!r}")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ScoreMapError(f"{path}: not a .npy array ({err})") from err


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


@dataclass(frozen=True)
class _Settings:
    """What every image of a split is scored with (sent once per task)."""

    taus: np.ndarray
    levels: tuple[int, ...]
    modes: tuple[ContourMode, ...]
    size: int
    raw: bool
    mask_root: Path | None


@dataclass(frozen=True)
class _Item:
    """One image: its map (or the .npy file holding it), GT boxes at ``size``, whether the
    top-1 / top-5 class is right (None without logits) and its masks (None without PxAP)."""

    image_id: str
    source: np.ndarray | Path
    gt: list[tuple[int, int, int, int]]
    top1: bool | None
    top5: bool | None
    mask: MaskAnnotation | None


@dataclass
class _Counts:
    """Integer counts per threshold (K,): exact to sum over images, in any grouping."""

    box: dict[tuple[str, int], np.ndarray]
    loc: dict[str, np.ndarray]
    pxap: PxAPAccumulator | None

    @classmethod
    def zeros(cls, settings: _Settings) -> _Counts:
        k = len(settings.taus)
        box = {(m, d): np.zeros(k, dtype=np.int64) for m in settings.modes for d in settings.levels}
        loc = {name: np.zeros(k, dtype=np.int64) for name in ("top1", "top5")}
        pxap = PxAPAccumulator(settings.taus) if settings.mask_root is not None else None
        return cls(box, loc, pxap)

    def add(self, other: _Counts) -> None:
        for key, value in other.box.items():
            self.box[key] += value
        for key, value in other.loc.items():
            self.loc[key] += value
        if self.pxap is not None and other.pxap is not None:
            self.pxap.fg += other.pxap.fg
            self.pxap.bg += other.pxap.bg


def _count_chunk(settings: _Settings, items: list[_Item]) -> _Counts:
    """Counts of one group of images (run in a worker process or in-process)."""
    counts = _Counts.zeros(settings)
    for item in items:
        source = item.source
        scoremap = load_scoremap(source, item.image_id) if isinstance(source, Path) else source
        smap = _checked(item.image_id, scoremap, settings.size, settings.raw)
        q = quantize(smap)
        for mode, ious in best_ious_by_mode(q, settings.taus, item.gt, settings.modes).items():
            for level in settings.levels:
                hit = ious >= level / 100
                counts.box[(mode, level)] += hit
                if mode == "largest" and level == 50 and item.top1 is not None:
                    counts.loc["top1"] += hit & item.top1
                    counts.loc["top5"] += hit & item.top5
        if counts.pxap is not None and item.mask is not None:
            counts.pxap.add(smap, read_gt_mask(settings.mask_root, item.mask, settings.size))
    return counts


def _chunks(items: Iterator[_Item | ScoreMapError]) -> Iterator[list[_Item] | ScoreMapError]:
    """Groups of CHUNK items in order; an error ends the stream after the items before it."""
    chunk: list[_Item] = []
    for item in items:
        if isinstance(item, ScoreMapError):
            if chunk:
                yield chunk
            yield item
            return
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count_all(
    settings: _Settings, items: Iterator[_Item | ScoreMapError], workers: int
) -> _Counts:
    """Sum of the chunks' counts; errors surface in image order, as a sequential loop would.

    With ``workers > 1`` chunks go to that many processes, at most ``2 * workers`` in flight,
    so memory stays constant in the number of images.
    """
    total = _Counts.zeros(settings)
    if workers <= 1:
        for chunk in _chunks(items):
            if isinstance(chunk, ScoreMapError):
                raise chunk
            total.add(_count_chunk(settings, chunk))
        return total
    warm_up()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pending: deque[Future[_Counts]] = deque()
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        try:
            for chunk in _chunks(items):
                if isinstance(chunk, ScoreMapError):
                    while pending:
                        total.add(pending.popleft().result())
                    raise chunk
                pending.append(pool.submit(_count_chunk, settings, chunk))
                if len(pending) >= 2 * workers:
                    total.add(pending.popleft().result())
            while pending:
                total.add(pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()
    return total


def evaluate_scoremaps(
    metadata: Metadata,
    scoremaps: Iterable[tuple[str, np.ndarray | Path]],
    *,
    protocol: Protocol = "wsoleval",
    cam_curve_interval: float = 0.01,
    iou_thresholds: Sequence[int] = (30, 50, 70),
    multi_contour: bool | None = None,
    logits: np.ndarray | None = None,
    mask_root: Path | None = None,
    size: int = 224,
    raw: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Evaluate one split's score maps; returns the JSON-ready result (see module docstring).

    Args:
        metadata: the split (GT boxes, labels, original sizes; masks for PxAP).
        scoremaps: ``(image_id, map)``, where the map may also be the path of a ``.npy`` file
            (loaded by the worker); with ``raw=False`` maps are normalised [0, 1] at
            ``size x size`` (NaN maps become zeros), with ``raw=True`` raw CAMs of any size.
        logits: (N, K) in ``metadata.image_ids`` order, for top-1/top-5 metrics.
        mask_root: folder of the mask PNGs; PxAP is computed when given.
        multi_contour: ``wsoleval`` only; False skips the all-contour (V2) pass.
        workers: processes sharing the images (default :func:`default_workers`); 1, or a
            split of fewer than MIN_PARALLEL images, runs in-process. Counts are integers
            summed over images, so the result does not depend on it.

    Raises:
        ScoreMapError: a map missing for an image id, a duplicate, a wrong shape.
    """
    paper = protocol == "paper"
    taus = paper_thresholds() if paper else thresholds(cam_curve_interval)
    levels = (50,) if paper else tuple(int(i) for i in iou_thresholds)
    modes: list[ContourMode] = (
        ["largest"] if paper or multi_contour is False else ["largest", "all"]
    )
    labels = np.asarray(metadata.labels(), dtype=np.int64)
    n = len(metadata.image_ids)
    top1 = top5 = None
    if logits is not None:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.shape[0] != n:
            raise ScoreMapError(f"logits have {logits.shape[0]} rows for {n} images")
        top1, top5 = top_k_correct(logits, labels, 1), top_k_correct(logits, labels, 5)
    settings = _Settings(taus, levels, tuple(modes), size, raw, mask_root)
    seen: set[str] = set()
    index_of = {image_id: i for i, image_id in enumerate(metadata.image_ids)}

    def items() -> Iterator[_Item | ScoreMapError]:
        for image_id, source in scoremaps:
            if image_id not in index_of:
                yield ScoreMapError(f"score map for unknown image id {image_id!r}")
                return
            if image_id in seen:
                yield ScoreMapError(f"two score maps for image id {image_id!r}")
                return
            seen.add(image_id)
            index = index_of[image_id]
            gt = rescale_boxes(
                metadata.boxes.get(image_id, ()), metadata.image_sizes[image_id], size
            )
            yield _Item(
                image_id,
                Path(source) if isinstance(source, (str, os.PathLike)) else source,
                gt,
                None if top1 is None else bool(top1[index]),
                None if top5 is None else bool(top5[index]),
                metadata.masks[image_id] if mask_root is not None else None,
            )

    workers = default_workers() if workers is None else workers
    counts = _count_all(settings, items(), workers if n >= MIN_PARALLEL else 1)
    missing = [i for i in metadata.image_ids if i not in seen]
    if missing:
        raise ScoreMapError(f"no score map for image id {missing[0]!r} ({len(missing)} missing)")
    result = _result(counts.box, counts.loc, top1, top5, counts.pxap, taus, levels, modes, n, paper)
    return result | {
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
    if 50 in levels:
        loc = {"gt_known_loc": result["max_box_acc"]["50"]}
        if top1 is not None:
            loc["top1_loc"] = _best(loc_counts["top1"], taus, n)[0]
            loc["top5_loc"] = _best(loc_counts["top5"], taus, n)[0]
        result |= {f"{k}_error": 100.0 - v for k, v in loc.items()} if paper else loc
    if top1 is not None:
        result["top1_cls"] = 100.0 * float(top1.mean())
        result["top5_cls"] = 100.0 * float(top5.mean())
    if pxap is not None:
        precision, recall = pxap.curve()
        result["pxap"] = pxap.pxap()
        curves["pxap"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    result["curves"] = curves
    return result
