"""The fast box path equals a straightforward OpenCV reference, threshold by threshold.

The reference follows METRICS.md §3 literally: per threshold, ``cv2.threshold`` (strict ``>``),
``cv2.findContours(RETR_TREE)``, ``boundingRect`` of every contour ("all") or of the first
contour of largest ``contourArea`` ("largest"), box ``(x, y, min(x + w, W - 1), min(y + h,
H - 1))``, (0, 0, 0, 0) when there is no contour, and the inclusive-pixel IoU. The fast path
(:func:`best_ious`), its OpenCV-per-mask branch and the component tree are each compared with
it, bit for bit, on a seeded family of adversarial maps.
"""

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from mnpo.data.metadata import MaskAnnotation, Metadata, write_metadata
from mnpo.metrics.boxes import _contour_best, _rois, best_ious, distinct_masks, iou_matrix
from mnpo.metrics.command import add_arguments, run
from mnpo.metrics.component_tree import all_best, filled_map, largest_best
from mnpo.metrics.evaluator import MIN_PARALLEL, ScoreMapError, evaluate_scoremaps
from mnpo.metrics.scoremaps import quantize


def reference_boxes(q: np.ndarray, tau: float, mode: str) -> list[tuple[int, int, int, int]]:
    """Boxes of one threshold, as wsolevaluation computes them."""
    height, width = q.shape
    _, mask = cv2.threshold(q, int(tau * np.max(q)), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
    if len(contours) == 0:
        return [(0, 0, 0, 0)]
    if mode == "largest":
        contours = [max(contours, key=cv2.contourArea)]
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
    return boxes


def reference_iou(box: tuple[int, ...], gt: tuple[int, ...]) -> float:
    """Inclusive-pixel IoU of two boxes (plain Python)."""
    inter_w = max(0, min(box[2], gt[2]) - max(box[0], gt[0]) + 1)
    inter_h = max(0, min(box[3], gt[3]) - max(box[1], gt[1]) + 1)
    inter = inter_w * inter_h
    area_box = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    area_gt = (gt[2] - gt[0] + 1) * (gt[3] - gt[1] + 1)
    return inter / (area_box + area_gt - inter)


def reference_best_ious(q: np.ndarray, taus: np.ndarray, gt: list, mode: str) -> np.ndarray:
    """Per threshold, the max IoU over (box, GT box) pairs."""
    return np.array(
        [max(reference_iou(b, g) for b in reference_boxes(q, t, mode) for g in gt) for t in taus]
    )


def _scaled(levels: np.ndarray) -> np.ndarray:
    """A float map whose quantisation ``int(s * 255)`` is exactly ``levels`` (0..255)."""
    return np.minimum((levels + 0.5) / 255, 1.0)


def _rings(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Nested square rings of random levels, with islands inside holes."""
    q = np.zeros((height, width))
    for depth in range(0, min(height, width) // 2, 2):
        q[depth : height - depth, depth : width - depth] = rng.integers(0, 256)
        if depth + 1 < min(height, width) // 2:
            q[depth + 1 : height - depth - 1, depth + 1 : width - depth - 1] = 0
    return _scaled(q)


def adversarial_maps(seed: int, count: int) -> Iterator[tuple[str, np.ndarray]]:
    """(kind, float map in [0, 1]) pairs: uniform noise, blocky maps, few levels, binary maps,
    constant and all-zero maps, maps whose maximum level is 1 or 2, nested rings with islands in
    their holes, blobs on the borders, sparse speckle; square, non-square and 1-pixel-wide."""
    rng = np.random.default_rng(seed)
    shapes = [(17, 31), (31, 17), (24, 24), (1, 9), (9, 1), (2, 2), (12, 20)]
    for k in range(count):
        height, width = shapes[k % len(shapes)]
        kind = [
            "noise", "blocky", "few", "binary", "constant", "zero", "max12", "rings",
            "border", "sparse",
        ][k % 10]  # fmt: skip
        if kind == "noise":
            m = rng.random((height, width))
        elif kind == "blocky":
            cell = int(rng.integers(2, 5))
            small = rng.integers(0, 256, (height // cell + 1, width // cell + 1))
            m = _scaled(np.kron(small, np.ones((cell, cell)))[:height, :width])
        elif kind == "few":
            m = rng.integers(0, 4, (height, width)) / 3
        elif kind == "binary":
            m = (rng.random((height, width)) < rng.uniform(0.2, 0.8)).astype(np.float64)
        elif kind == "constant":
            m = np.full((height, width), rng.choice([0.3, 0.5, 1.0]))
        elif kind == "zero":
            m = np.zeros((height, width))
        elif kind == "max12":
            m = _scaled(rng.integers(0, int(rng.integers(2, 4)), (height, width)))
        elif kind == "rings":
            m = _rings(height, width, rng)
        elif kind == "border":
            m = np.zeros((height, width))
            m[: height // 2, : max(width // 3, 1)] = 1.0
            m[height - max(height // 3, 1) :, width // 2 :] = 0.6
            m[height // 2 :, 0] = 0.3
        else:
            m = _scaled(rng.integers(0, 256, (height, width)) * (rng.random((height, width)) < 0.1))
        yield kind, m


def random_gt(rng: np.random.Generator, height: int, width: int) -> list[tuple[int, ...]]:
    """One to three inclusive GT boxes, possibly a single pixel or touching the edges."""
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        boxes.append((x0, y0, x1, y1))
    return boxes


@pytest.mark.parametrize(("interval", "count"), [(0.01, 400), (0.001, 80)])
@pytest.mark.parametrize("mode", ["largest", "all"])
def test_fast_paths_equal_reference(interval: float, count: int, mode: str) -> None:
    taus = np.arange(0, 1, interval)
    rng = np.random.default_rng(1)
    for kind, scoremap in adversarial_maps(seed=int(interval * 1000), count=count):
        q = quantize(scoremap)
        gt = random_gt(rng, *q.shape)
        want = reference_best_ious(q, taus, gt, mode)
        np.testing.assert_array_equal(best_ious(q, taus, gt, mode), want, err_msg=kind)
        levels, counts, index = distinct_masks(q, taus)
        gt_array = np.array(gt, dtype=np.int64)
        filled = filled_map(q)
        if mode == "largest":
            tree = largest_best(filled, levels, gt_array)
        else:
            tree = all_best(q, filled, levels, gt_array)
        np.testing.assert_array_equal(tree[index], want, err_msg=kind)
        rois = _rois(q, levels)
        simple = counts == 0
        contour = _contour_best(q, levels, rois, simple, gt_array, mode)
        if contour is not None:
            np.testing.assert_array_equal(contour[index], want, err_msg=kind)


def test_hand_computed_boxes() -> None:
    # IoU of two known boxes: 5x5 overlap of two 10x10 boxes
    assert iou_matrix(np.array([[0, 0, 9, 9]]), np.array([[5, 5, 14, 14]]))[0, 0] == 25 / 175
    # a 5x5 ring with a one-pixel hole at (3, 3) in a 7x7 map
    ring = np.zeros((7, 7))
    ring[1:6, 1:6] = 1.0
    ring[3, 3] = 0.0
    q = quantize(ring)
    taus = np.array([0.5])
    # the hole border's rect is the hole grown by 1 px: x = y = 2, w = h = 3, so the box is
    # (2, 2, 5, 5) (right/bottom edge x + w); the outer border's box is (1, 1, 6, 6)
    assert reference_boxes(q, 0.5, "all") == [(1, 1, 6, 6), (2, 2, 5, 5)]
    assert best_ious(q, taus, [(2, 2, 5, 5)], "all")[0] == 1.0
    assert best_ious(q, taus, [(2, 2, 5, 5)], "largest")[0] == 16 / 36
    # an empty mask gives the box (0, 0, 0, 0): IoU 1 with (0, 0, 0, 0), 1/4 with (0, 0, 1, 1)
    zero = quantize(np.zeros((5, 8)))
    assert reference_boxes(zero, 0.3, "all") == [(0, 0, 0, 0)]
    for mode in ("largest", "all"):
        assert best_ious(zero, taus, [(0, 0, 0, 0)], mode)[0] == 1.0
        assert best_ious(zero, taus, [(0, 0, 1, 1)], mode)[0] == 0.25


def _split(tmp_path: Path, n: int, size: int = 24) -> tuple[Metadata, dict[str, np.ndarray]]:
    """A split of ``n`` maps (blocky, noise, smooth) with boxes, labels and mask PNGs."""
    rng = np.random.default_rng(5)
    ids = tuple(f"d/{i}.png" for i in range(n))
    maps, masks = {}, {}
    for k, image_id in enumerate(ids):
        if k % 3 == 0:
            maps[image_id] = rng.random((size, size))
        else:
            small = rng.random((4, 4))
            maps[image_id] = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
            maps[image_id] = (maps[image_id] - maps[image_id].min()) / np.ptp(maps[image_id])
        mask = (rng.random((8, 8)) < 0.5).astype(np.uint8) * 255
        (tmp_path / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "masks" / f"{k}.png"), mask)
        masks[image_id] = MaskAnnotation((f"{k}.png",))
    meta = Metadata(
        ids,
        {i: k % 7 for k, i in enumerate(ids)},
        {i: (48, 40) for i in ids},
        {
            i: tuple((k % 5, 3, 20 + k % 20, 30) for _ in range(1 + k % 2))
            for k, i in enumerate(ids)
        },
        masks,
    )
    return meta, maps


def test_workers_give_the_same_result(tmp_path: Path) -> None:
    n = MIN_PARALLEL + 5
    meta, maps = _split(tmp_path, n)
    logits = np.random.default_rng(6).normal(size=(n, 7))
    common = {"size": 24, "logits": logits, "mask_root": tmp_path / "masks"}
    one = evaluate_scoremaps(meta, maps.items(), workers=1, **common)
    two = evaluate_scoremaps(meta, maps.items(), workers=2, **common)
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    for image_id, m in maps.items():
        np.save(tmp_path / f"{image_id.replace('/', '_')}.npy", m)
    paths = ((i, tmp_path / f"{i.replace('/', '_')}.npy") for i in meta.image_ids)
    assert evaluate_scoremaps(meta, paths, workers=2, **common) == one
    bad = dict(maps, **{"d/40.png": np.zeros((3, 3))})
    with pytest.raises(ScoreMapError, match="'d/40.png' has shape"):
        evaluate_scoremaps(meta, bad.items(), workers=2, size=24)


def test_command_workers_flag(tmp_path: Path) -> None:
    meta, maps = _split(tmp_path, MIN_PARALLEL + 1)
    write_metadata(tmp_path / "meta", meta)
    for image_id, m in maps.items():
        (tmp_path / "maps" / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "maps" / f"{image_id}.npy", m)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    results = []
    for workers in ("1", "2"):
        out = tmp_path / f"r{workers}.json"
        args = parser.parse_args(["--metadata", str(tmp_path / "meta"), "--scoremaps",
                                  str(tmp_path / "maps"), "--out", str(out), "--resize", "24",
                                  "--workers", workers])  # fmt: skip
        assert run(args) == 0
        results.append(out.read_text())
    assert results[0] == results[1]
    with pytest.raises(SystemExit):
        parser.parse_args(["--metadata", "m", "--scoremaps", "s", "--out", "o", "--workers", "0"])
