"""``mnpo evaluate``: score a folder of ``<image_id>.npy`` score maps (any method's).

mnpo evaluate --metadata DIR --scoremaps DIR --out FILE.json
              [--protocol wsoleval|paper] [--cam-curve-interval 0.01]
              [--iou-thresholds 30 50 70] [--multi-contour|--largest-contour]
              [--resize 224] [--logits FILE.npy] [--masks DIR] [--raw] [--num-classes K]
              [--workers 2]

Worker processes load their own ``.npy`` files; the result does not depend on ``--workers``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from mnpo.argtypes import positive_int
from mnpo.data.metadata import MetadataError, read_metadata
from mnpo.io import write_json
from mnpo.metrics.evaluator import ScoreMapError, evaluate_scoremaps

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnpo evaluate``."""
    parser.add_argument("--metadata", required=True, type=Path, help="split metadata folder")
    parser.add_argument("--scoremaps", required=True, type=Path, help="folder of <id>.npy maps")
    parser.add_argument("--out", required=True, type=Path, help="result JSON")
    parser.add_argument("--protocol", choices=("wsoleval", "paper"), default="wsoleval")
    parser.add_argument("--cam-curve-interval", type=float, default=0.01)
    parser.add_argument("--iou-thresholds", type=int, nargs="+", default=[30, 50, 70])
    contour = parser.add_mutually_exclusive_group()
    contour.add_argument(
        "--multi-contour",
        dest="multi_contour",
        action="store_true",
        default=True,
        help="also MaxBoxAccV2 over all contours (default)",
    )
    contour.add_argument("--largest-contour", dest="multi_contour", action="store_false",
                         help="largest contour only")  # fmt: skip
    parser.add_argument("--resize", type=int, default=224, help="evaluation size (square)")
    parser.add_argument("--logits", type=Path, help="(N, K) .npy in image_ids order")
    parser.add_argument("--masks", type=Path, help="mask PNG root, for PxAP")
    parser.add_argument("--raw", action="store_true", help="maps are raw CAMs of any size")
    parser.add_argument("--num-classes", type=int, help="check labels lie in 0..K-1")
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="worker processes (1: in-process)"
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the JSON; bad input -> one message, exit code 2."""
    try:
        metadata = read_metadata(args.metadata, num_classes=args.num_classes)
        logits = np.load(args.logits) if args.logits else None
        result = evaluate_scoremaps(
            metadata,
            ((i, args.scoremaps / f"{i}.npy") for i in metadata.image_ids),
            protocol=args.protocol,
            cam_curve_interval=args.cam_curve_interval,
            iou_thresholds=args.iou_thresholds,
            multi_contour=args.multi_contour,
            logits=logits,
            mask_root=args.masks,
            size=args.resize,
            raw=args.raw,
            workers=args.workers,
        )
    except (MetadataError, ScoreMapError, OSError, ValueError) as err:
        log.error("%s", err)
        return 2
    write_json(args.out, result)
    log.info("wrote %s", args.out)
    return 0
