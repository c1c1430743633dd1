"""Benchmark: ``mnpo evaluate`` against the standard per-threshold box evaluation.

    .venv/bin/python benchmarks/bench_evaluator.py [--n 1000] [--interval 0.01]
        [--baseline-n N] [--workers 2] [--seed 0]

Writes ``n`` score maps (224 x 224 float64 ``<image_id>.npy``) and wsolevaluation metadata into
a temporary folder, in equal quarters: smooth CAM-like maps (a low-resolution random CAM
upsampled bicubic, min-max normalised), several-blob maps, noisy maps (a CAM plus Gaussian
noise) and constant maps; one or two GT boxes per image.

- Baseline: the standard wsolevaluation algorithm, written out here, single process: load each
  ``.npy``, quantise, then per threshold ``cv2.threshold`` (strict ``>``), ``findContours``
  (``RETR_TREE``), ``boundingRect`` of every contour (MaxBoxAccV2) and of the first contour of
  largest ``contourArea`` (MaxBoxAcc), IoU with every GT box, count. One ``findContours`` call
  serves both modes, which makes the baseline cheaper than running the two modes apart.
- Fast: :func:`mnpo.metrics.command.run`, the function ``mnpo evaluate`` calls (metadata,
  loading, both contour modes, JSON), with ``--workers``.

The per-threshold counts of both must be equal (asserted). With ``--baseline-n`` smaller than
``n`` the baseline runs on the first ``baseline-n`` images (equal quarters) and the speed-up
compares mean times per image; the output says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from mnpo.data.metadata import Metadata, write_metadata
from mnpo.metrics.command import add_arguments, run

SIZE = 224
IOU_LEVELS = (30, 50, 70)
MODES = ("largest", "all")


def cam_map(rng: np.random.Generator) -> np.ndarray:
    """A low-resolution random CAM upsampled bicubic to 224 and min-max normalised."""
    cam = cv2.resize(rng.normal(size=(7, 7)), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    return (cam - cam.min()) / (cam.max() - cam.min())


def blob_map(rng: np.random.Generator) -> np.ndarray:
    """The max of 2-6 Gaussian blobs of random centre, width and height, normalised."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    scoremap = np.zeros((SIZE, SIZE))
    for _ in range(int(rng.integers(2, 7))):
        cx, cy = rng.uniform(0, SIZE, 2)
        sigma = rng.uniform(6, 35)
        blob = rng.uniform(0.3, 1.0) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        scoremap = np.maximum(scoremap, blob)
    return scoremap / scoremap.max()


def noisy_map(rng: np.random.Generator) -> np.ndarray:
    """A CAM plus Gaussian noise (std 0.3 of its range), min-max normalised."""
    noisy = cam_map(rng) + rng.normal(0, 0.3, (SIZE, SIZE))
    return (noisy - noisy.min()) / (noisy.max() - noisy.min())


def constant_map(rng: np.random.Generator) -> np.ndarray:
    """A constant map (0 one time in four, else uniform in [0, 1])."""
    return np.full((SIZE, SIZE), 0.0 if rng.random() < 0.25 else rng.random())


KINDS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "cam": cam_map,
    "blobs": blob_map,
    "noisy": noisy_map,
    "constant": constant_map,
}


def write_dataset(root: Path, n: int, seed: int) -> Metadata:
    """``n`` maps (equal quarters per kind, interleaved) + metadata of original-size boxes."""
    rng = np.random.default_rng(seed)
    ids, sizes, boxes = [], {}, {}
    for k in range(n):
        kind = list(KINDS)[k % len(KINDS)]
        image_id = f"{kind}/{k:06d}.jpg"
        width, height = (int(v) for v in rng.integers(120, 500, 2))
        image_boxes = []
        for _ in range(int(rng.integers(1, 3))):
            x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
            y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
            image_boxes.append((x0, y0, x1, y1))
        path = root / "scoremaps" / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, KINDS[kind](rng))
        ids.append(image_id)
        sizes[image_id] = (width, height)
        boxes[image_id] = tuple(image_boxes)
    return Metadata(tuple(ids), {i: 0 for i in ids}, sizes, boxes)


def subset(metadata: Metadata, ids: list[str]) -> Metadata:
    """The same split restricted to ``ids``."""
    return Metadata(
        tuple(ids),
        {i: metadata.class_labels[i] for i in ids},
        {i: metadata.image_sizes[i] for i in ids},
        {i: metadata.boxes[i] for i in ids},
    )


def baseline_counts(
    metadata: Metadata, scoremaps: Path, taus: np.ndarray
) -> tuple[dict[tuple[str, int], np.ndarray], dict[str, float]]:
    """The standard per-threshold loop; returns counts per (mode, IoU level) and seconds/kind."""
    counts = {(m, d): np.zeros(len(taus), dtype=np.int64) for m in MODES for d in IOU_LEVELS}
    seconds = dict.fromkeys(KINDS, 0.0)
    for image_id in metadata.image_ids:
        start = time.perf_counter()
        q = (np.load(scoremaps / f"{image_id}.npy") * 255).astype(np.uint8)
        width, height = metadata.image_sizes[image_id]
        gt = np.array(
            [(int(x0 * SIZE / width), int(y0 * SIZE / height), int(x1 * SIZE / width),
              int(y1 * SIZE / height)) for x0, y0, x1, y1 in metadata.boxes[image_id]]
        )  # fmt: skip
        for k, tau in enumerate(taus):
            _, mask = cv2.threshold(q, int(tau * np.max(q)), 255, cv2.THRESH_BINARY)
            contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
            if len(contours) == 0:
                per_mode = {"largest": [(0, 0, 0, 0)], "all": [(0, 0, 0, 0)]}
            else:
                rects = [cv2.boundingRect(c) for c in contours]
                largest = max(range(len(contours)), key=lambda i: cv2.contourArea(contours[i]))
                per_mode = {"largest": [rects[largest]], "all": rects}
                for mode, chosen in per_mode.items():
                    per_mode[mode] = [
                        (x, y, min(x + w, SIZE - 1), min(y + h, SIZE - 1)) for x, y, w, h in chosen
                    ]
            for mode, chosen in per_mode.items():
                best = box_iou(np.array(chosen), gt).max()
                for level in IOU_LEVELS:
                    counts[(mode, level)][k] += best >= level / 100
        seconds[image_id.split("/")[0]] += time.perf_counter() - start
    return counts, seconds


def box_iou(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Inclusive-pixel IoU (k, n) between (k, 4) predicted and (n, 4) GT boxes."""
    a, b = boxes[:, None, :], gt[None, :, :]
    inter = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    inter *= np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return inter / (area_a + area_b - inter)


def fast_counts(
    root: Path, name: str, metadata: Metadata, interval: float, workers: int
) -> tuple[dict[tuple[str, int], np.ndarray], float]:
    """``mnpo evaluate`` on ``metadata``; returns counts per (mode, IoU level) and seconds."""
    write_metadata(root / name, metadata)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = root / f"{name}.json"
    args = parser.parse_args(
        ["--metadata", str(root / name), "--scoremaps", str(root / "scoremaps"), "--out",
         str(out), "--cam-curve-interval", str(interval), "--workers", str(workers)]
    )  # fmt: skip
    start = time.perf_counter()
    if run(args) != 0:
        raise RuntimeError(f"mnpo evaluate failed on {name}")
    seconds = time.perf_counter() - start
    curves = json.loads(out.read_text())["curves"]
    n = len(metadata.image_ids)
    counts = {}
    for mode, key in (("largest", "box_acc"), ("all", "box_acc_v2")):
        for level in IOU_LEVELS:
            percent = np.array(curves[key][str(level)])
            counts[(mode, level)] = np.rint(percent * n / 100).astype(np.int64)
    return counts, seconds


def say(line: str = "") -> None:
    """One line of the report on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Write the data, time both paths, check the counts, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="images (a multiple of 4)")
    parser.add_argument("--interval", type=float, default=0.01, help="cam_curve_interval")
    parser.add_argument("--baseline-n", type=int, help="images for the baseline (default n)")
    parser.add_argument("--workers", type=int, default=2, help="fast path worker processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = args.n - args.n % len(KINDS)
    baseline_n = n if args.baseline_n is None else min(args.baseline_n, n)
    baseline_n -= baseline_n % len(KINDS)
    taus = np.arange(0, 1, args.interval)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        metadata = write_dataset(root, n, args.seed)
        ids = list(metadata.image_ids)
        say(f"{n} maps {SIZE}x{SIZE}, interval {args.interval} ({len(taus)} thresholds), "
            f"fast path: mnpo evaluate --workers {args.workers}")  # fmt: skip
        warm = fast_counts(root, "warm-up", subset(metadata, ids[:4]), args.interval, 1)[1]
        say(f"warm-up run (loads the compiled code; not counted): {warm:.2f} s")
        fast_kind = {}
        for kind in KINDS:
            kind_ids = [i for i in ids if i.startswith(kind + "/")]
            fast_kind[kind] = fast_counts(
                root, kind, subset(metadata, kind_ids), args.interval, args.workers
            )[1] / len(kind_ids)
        fast_all, fast_seconds = fast_counts(root, "all", metadata, args.interval, args.workers)
        checked = subset(metadata, ids[:baseline_n])
        want, base_kind = baseline_counts(checked, root / "scoremaps", taus)
        got = fast_all
        if baseline_n < n:
            got = fast_counts(root, "checked", checked, args.interval, args.workers)[0]
            say(f"baseline on the first {baseline_n} images only: times are per image")
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=str(key))
        say(f"counts equal on {baseline_n} images, 2 modes x IoU {IOU_LEVELS} x {len(taus)}")
        say()
        say("| kind | baseline ms/image | fast ms/image | speed-up |")
        say("| --- | --- | --- | --- |")
        per_kind = baseline_n // len(KINDS)
        for kind in KINDS:
            base_ms = 1000 * base_kind[kind] / per_kind
            fast_ms = 1000 * fast_kind[kind]
            say(f"| {kind} | {base_ms:.2f} | {fast_ms:.3f} | {base_ms / fast_ms:.1f}x |")
        base_ms = 1000 * sum(base_kind.values()) / baseline_n
        fast_ms = 1000 * fast_seconds / n
        say(f"| all | {base_ms:.2f} | {fast_ms:.3f} | {base_ms / fast_ms:.1f}x |")
        say()
        say(f"total: baseline {sum(base_kind.values()):.1f} s for {baseline_n} images, "
            f"fast {fast_seconds:.2f} s for {n} images (whole command, per-kind runs "
            f"separate); speed-up per image {base_ms / fast_ms:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
