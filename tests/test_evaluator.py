"""The evaluator against a straightforward reference written from METRICS.md, plus hand cases."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mnpo.data.metadata import Metadata, write_metadata
from mnpo.metrics.boxes import best_ious, iou_matrix
from mnpo.metrics.command import add_arguments, run
from mnpo.metrics.evaluator import ScoreMapError, evaluate_scoremaps
from mnpo.metrics.masks import PxAPAccumulator
from mnpo.metrics.scoremaps import cam_to_scoremap, normalize_scoremap, quantize, rescale_boxes


def reference_best_ious(scoremap, taus, gt_boxes, multi_contour):
    """The per-threshold loop of wsolevaluation, in our own words (METRICS.md §3)."""
    q = (scoremap * 255).astype(np.uint8)
    height, width = q.shape
    out = []
    for tau in taus:
        _, mask = cv2.threshold(q, int(tau * np.max(q)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if not contours:
            boxes = [(0, 0, 0, 0)]
        else:
            if not multi_contour:
                contours = [max(contours, key=cv2.contourArea)]
            boxes = []
            for c in contours:
                x, y, w, h = cv2.boundingRect(c)
                boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
        best = 0.0
        for b in boxes:
            for g in gt_boxes:
                iw = max(0, min(b[2], g[2]) - max(b[0], g[0]) + 1)
                ih = max(0, min(b[3], g[3]) - max(b[1], g[1]) + 1)
                inter = iw * ih
                union = (
                    (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
                    + (g[2] - g[0] + 1) * (g[3] - g[1] + 1)
                    - inter
                )
                best = max(best, inter / union if union > 0 else 0.0)
        out.append(best)
    return np.array(out)


def adversarial_maps(rng, count=40, size=48):
    kinds = []
    for k in range(count):
        kind = k % 8
        if kind == 0:
            m = cam_to_scoremap(rng.normal(size=(7, 7)), size)
        elif kind == 1:
            m = rng.random((size, size))
        elif kind == 2:
            m = np.full((size, size), 0.7)
        elif kind == 3:
            m = np.zeros((size, size))
            m[5:20, 5:20] = 1.0
            m[8:12, 8:12] = 0.0  # ring with a hole
        elif kind == 4:
            m = np.zeros((size, size))
            m[10, 3:40] = 1.0
            m[30:33, 30:33] = 1.0  # line vs blob
        elif kind == 5:
            m = rng.random((size, size)) * 3 / 255  # tiny maximum
        elif kind == 6:
            m = (rng.integers(0, 4, (size // 8, size // 8)).repeat(8, 0).repeat(8, 1)) / 3.0
        else:
            m = np.zeros((size, size))
            m[0:6, 40:48] = 1.0
            m[40:48, 0:3] = 0.5  # border blobs
        kinds.append(m)
    return kinds


@pytest.mark.parametrize("interval", [0.01, 0.001])
@pytest.mark.parametrize("mode", ["largest", "all"])
def test_fast_path_equals_reference_on_adversarial_maps(interval, mode) -> None:
    rng = np.random.default_rng(0)
    taus = np.arange(0, 1, interval)
    for scoremap in adversarial_maps(rng):
        gt = [tuple(sorted(rng.integers(0, 48, 2))) for _ in range(2)]
        gt = [(a, c, b, d) for (a, b), (c, d) in zip(gt, gt[::-1], strict=True)]
        want = reference_best_ious(scoremap, taus, gt, mode == "all")
        got = best_ious(quantize(scoremap), taus, gt, mode)
        np.testing.assert_array_equal(got, want)


def test_hand_computed_iou_and_off_by_one() -> None:
    assert iou_matrix(np.array([[0, 0, 9, 9]]), np.array([[0, 0, 4, 9]]))[0, 0] == 0.5
    # a plateau exactly covering a 100x100 GT box: predicted box is one pixel too wide/tall
    m = np.zeros((224, 224))
    m[50:150, 50:150] = 1.0
    iou = best_ious(quantize(m), np.array([0.5]), [(50, 50, 149, 149)], "largest")[0]
    assert iou == pytest.approx(10000 / 10201)
    # empty map -> box (0, 0, 0, 0), IoU 1 with a GT box collapsed onto the origin
    assert best_ious(quantize(np.zeros((8, 8))), np.array([0.1]), [(0, 0, 0, 0)], "all")[0] == 1.0
    assert rescale_boxes([(1, 2, 4, 3)], (10, 20), 35)[0][:3] == (3, 3, 14)


def test_normalisation_rules() -> None:
    assert not normalize_scoremap(np.array([[1.0, np.nan]])).any()
    assert not normalize_scoremap(np.full((3, 3), 2.0)).any()
    with pytest.raises(ValueError, match="infinite"):
        normalize_scoremap(np.array([[0.0, np.inf]]))
    cam = np.array([[1.0, 3.0]])
    normalize_scoremap(cam)
    assert cam.tolist() == [[1.0, 3.0]], "input not mutated"


def test_pxap_hand_case() -> None:
    acc = PxAPAccumulator(np.arange(0, 1, 0.5))
    score = np.array([[0.9, 0.6], [0.2, 0.1]])
    acc.add(score, np.array([[1, 0], [1, 0]]))
    # edges high->low: >=3,2,1: nothing; >=0.5: tp1 fp1 (p .5 r .5); >=0: tp2 fp2 (p .5 r 1)
    assert acc.pxap() == pytest.approx(100 * 0.5 * 0.5)


def _split(tmp_path: Path, n=6, size=32) -> tuple[Metadata, dict]:
    ids = tuple(f"x/{i}.png" for i in range(n))
    meta = Metadata(ids, {i: k % 2 for k, i in enumerate(ids)}, {i: (64, 48) for i in ids},
                    {i: ((8, 8, 40, 30),) for i in ids}, {})  # fmt: skip
    rng = np.random.default_rng(1)
    maps = {i: cam_to_scoremap(rng.normal(size=(4, 4)), size) for i in ids}
    return meta, maps


def test_protocols_and_counts(tmp_path: Path) -> None:
    meta, maps = _split(tmp_path)
    logits = np.eye(2)[[0, 1, 1, 1, 0, 1]] * 5
    wsol = evaluate_scoremaps(meta, maps.items(), size=32, logits=logits)
    taus = np.arange(0, 1, 0.01)
    correct = sum(
        reference_best_ious(maps[i], taus, rescale_boxes(meta.boxes[i], (64, 48), 32), False) >= 0.5
        for i in meta.image_ids
    )
    assert wsol["max_box_acc"]["50"] == pytest.approx(100 * correct.max() / 6)
    assert wsol["top1_cls"] == pytest.approx(100 * 5 / 6)  # labels 0,1,0,1,0,1
    assert wsol["top1_loc"] <= wsol["gt_known_loc"] == wsol["max_box_acc"]["50"]
    paper = evaluate_scoremaps(meta, maps.items(), size=32, logits=logits, protocol="paper")
    assert len(paper["curves"]["thresholds"]) == 30
    assert paper["gt_known_loc_error"] + max(paper["curves"]["box_acc"]["50"]) == pytest.approx(100)


def test_bad_score_maps(tmp_path: Path) -> None:
    meta, maps = _split(tmp_path)
    with pytest.raises(ScoreMapError, match="no score map for image id 'x/5.png'"):
        evaluate_scoremaps(meta, list(maps.items())[:5], size=32)
    with pytest.raises(ScoreMapError, match="has shape \\(16, 16\\), expected \\(32, 32\\)"):
        evaluate_scoremaps(meta, [("x/0.png", np.zeros((16, 16)))], size=32)
    nan = dict(maps, **{"x/0.png": np.full((32, 32), np.nan)})
    assert evaluate_scoremaps(meta, nan.items(), size=32)["num_images"] == 6


def test_command_writes_json_and_reports_bad_metadata(tmp_path: Path, caplog) -> None:
    import argparse

    meta, maps = _split(tmp_path)
    write_metadata(tmp_path / "meta", meta)
    for image_id, m in maps.items():
        (tmp_path / "maps" / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "maps" / f"{image_id}.npy", m)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--metadata", str(tmp_path / "meta"), "--scoremaps",
                              str(tmp_path / "maps"), "--out", str(tmp_path / "r.json"),
                              "--resize", "32"])  # fmt: skip
    assert run(args) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert {"max_box_acc", "best_threshold", "max_box_acc_v2", "settings", "curves"} <= set(result)
    labels = tmp_path / "meta" / "class_labels.txt"
    labels.write_text(labels.read_text().replace("x/3.png,1", "x/3.png,1,9"))
    assert run(args) == 2
    assert "class_labels.txt:4: expected 2 comma-separated fields" in caplog.text
