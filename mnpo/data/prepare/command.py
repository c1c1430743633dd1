"""``mnpo prepare cub|ilsvrc|openimages``: convert an official layout, no config needed.

    mnpo prepare cub        --root CUB_200_2011 --out DIR [--val-metadata DIR]
                            [--val-per-class 5] [--val-seed 0]
    mnpo prepare ilsvrc     --root ILSVRC --out DIR [--boxes CSV|DIR] [--synsets FILE]
                            [--val-metadata DIR]
    mnpo prepare openimages --root OpenImages --out DIR [--metadata DIR]

Each writes ``DIR/<split>/{image_ids,class_labels,image_sizes,localization}.txt`` and
``DIR/report.json`` (all or nothing). ``--workers`` threads read the image headers.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mnpo.argtypes import positive_int
from mnpo.data.prepare import OPTIONS, convert, write_prepared
from mnpo.data.prepare.common import DEFAULT_WORKERS
from mnpo.data.prepare.cub import DEFAULT_VAL_PER_CLASS, DEFAULT_VAL_SEED

log = logging.getLogger(__name__)


def _layout(
    layouts: argparse._SubParsersAction, name: str, summary: str
) -> argparse.ArgumentParser:
    parser = layouts.add_parser(name, help=summary)
    parser.add_argument(
        "--root", required=True, type=Path, metavar="DIR", help="the dataset's local folder"
    )
    parser.add_argument(
        "--out",
        dest="out_dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="metadata folder to write",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_WORKERS,
        help="threads reading image headers",
    )
    return parser


def add_layouts(prepare: argparse.ArgumentParser) -> None:
    """Add the ``cub``, ``ilsvrc`` and ``openimages`` sub-commands to ``mnpo prepare``."""
    layouts = prepare.add_subparsers(dest="layout", metavar="{cub,ilsvrc,openimages}")
    cub = _layout(layouts, "cub", "convert the official CUB_200_2011/ folder")
    cub.add_argument("--val-metadata", type=Path, help="CUBV2 split folder (wsolevaluation format)")
    cub.add_argument(
        "--val-per-class",
        type=positive_int,
        default=DEFAULT_VAL_PER_CLASS,
        help="without --val-metadata: train images per class held out as val",
    )
    cub.add_argument("--val-seed", type=int, default=DEFAULT_VAL_SEED, help="seed of the hold-out")
    ilsvrc = _layout(layouts, "ilsvrc", "convert ILSVRC2012 train/ and val/ (+ boxes)")
    ilsvrc.add_argument("--boxes", type=Path, help="LOC_val_solution.csv or a folder of XMLs")
    ilsvrc.add_argument("--synsets", type=Path, help="class order (LOC_synset_mapping.txt)")
    ilsvrc.add_argument("--val-metadata", type=Path, help="ImageNetV2 split folder (upstream's)")
    openimages = _layout(layouts, "openimages", "check and convert OpenImages30k (masks)")
    openimages.add_argument("--metadata", type=Path, help="upstream's metadata/OpenImages")


def run(args: argparse.Namespace) -> None:
    """Convert ``args.layout`` and write the metadata folder."""
    options = {"root": args.root, **{key: getattr(args, key) for key in OPTIONS[args.layout]}}
    prepared = convert(args.layout, options, workers=args.workers)
    report = write_prepared(args.out_dir, prepared)
    log.info("%s: metadata in %s, report %s", args.layout, args.out_dir, report)
