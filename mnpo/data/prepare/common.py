"""What every converter shares: located errors, source tables, header sizes, checks, output.

Every error is one :class:`~mnpo.data.metadata.MetadataError` whose message starts with the
source file and, where there is one, the 1-based line (``path:line: ...``). Conversion reads and
checks everything first; the output folder is written last, through a temporary sibling folder
renamed into place, so a failed run leaves no half-written metadata.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from statistics import fmean
from typing import Any, NoReturn

from mnpo.data.images import ImageError, image_size
from mnpo.data.metadata import (
    IMAGE_IDS,
    IMAGE_SIZES,
    LOCALIZATION,
    MASKS,
    Box,
    Metadata,
    MetadataError,
    read_metadata,
    write_metadata,
)
from mnpo.io import write_json

log = logging.getLogger(__name__)

REPORT = "report.json"
DEFAULT_WORKERS = 8
SPLIT_LAYOUT = (
    "A wsolevaluation split folder holds image_ids.txt, class_labels.txt, image_sizes.txt and "
    "localization.txt (see docs/datasets.md)."
)
_CHUNK = 4096

Size = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a source file, printed ``path:line`` (``path`` alone when ``line`` is None)."""

    path: Path
    line: int | None = None

    def __str__(self) -> str:
        return str(self.path) if self.line is None else f"{self.path}:{self.line}"


def fail(where: Where | Path, message: str) -> NoReturn:
    """Raise the one error of a conversion: ``<where>: <message>``."""
    raise MetadataError(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A converted dataset, checked, not yet written.

    Attributes:
        kind: ``cub``, ``ilsvrc`` or ``openimages``.
        splits: split name -> metadata (ids relative to ``image_root``, sizes from headers).
        class_names: one name per label ``0..K-1``.
        image_root: the dataset's own image folder (nothing is copied).
        mask_root: folder the mask paths are relative to (mask datasets only).
        source: what was read (paths, options), recorded in the report.
        notes: split-policy remarks, recorded in the report and logged.
    """

    kind: str
    splits: dict[str, Metadata]
    class_names: list[str]
    image_root: Path
    mask_root: Path | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# ----------------------------------------------------------------------------- source files
def require(path: Path, layout: str, *, folder: bool = False) -> Path:
    """``path`` itself if it exists (as a folder when ``folder``), else an error naming it.

    Args:
        layout: one sentence saying what the source folder should hold (docs/datasets.md).
    """
    if not (path.is_dir() if folder else path.is_file()):
        what = "folder" if folder else "file"
        fail(path, f"{what} not found. {layout}")
    return path


def read_text(path: Path) -> str:
    """The UTF-8 text of a source file (an error naming it otherwise)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        fail(path, f"not a UTF-8 text file ({err})")


def read_rows(path: Path, count: int, *, sep: str | None = None) -> list[tuple[Where, list[str]]]:
    """Non-empty lines of ``path``, each split into exactly ``count`` fields.

    Args:
        sep: field separator; None splits on runs of white space (CUB's files).
    """
    rows = []
    for number, raw in enumerate(read_text(path).split("\n"), 1):
        line = raw.strip("\r")
        if not line.strip():
            continue
        fields = line.split(sep) if sep else line.split()
        if len(fields) != count:
            kind = "comma-separated" if sep == "," else "space-separated"
            fail(
                Where(path, number), f"expected {count} {kind} fields, got {len(fields)}: {line!r}"
            )
        rows.append((Where(path, number), fields))
    return rows


def first_field_lines(path: Path) -> dict[str, int]:
    """First field of each comma-separated line -> its first 1-based line number."""
    lines: dict[str, int] = {}
    for number, raw in enumerate(read_text(path).split("\n"), 1):
        if raw.strip():
            lines.setdefault(raw.strip("\r").split(",")[0], number)
    return lines


def parse_int(where: Where, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        fail(where, f"{what} is not an integer: {text!r}")


def relative_id(where: Where, text: str) -> str:
    """``text`` as an image id: a relative POSIX path without ``..`` and without commas."""
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts or "," in text or "\\" in text:
        fail(where, f"not a usable relative image path (no '..', ',' or '\\'): {text!r}")
    return text


# ----------------------------------------------------------------------------- images
def header_sizes(
    images: Sequence[tuple[Path, Where | None]], workers: int = DEFAULT_WORKERS
) -> list[Size]:
    """(width, height) of each image from its header (no decoding), in order.

    Args:
        images: (file, where it is listed) pairs; ``where`` prefixes the error of a missing or
            unreadable file.
        workers: reader threads (reading headers waits on the disk, not the CPU).

    Raises:
        MetadataError: the first missing or unreadable image in list order.
    """

    def one(item: tuple[Path, Where | None]) -> Size:
        path, where = item
        try:
            return image_size(path)
        except ImageError as err:
            raise MetadataError(str(err) if where is None else f"{where}: {err}") from None

    sizes: list[Size] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(images), _CHUNK):
            sizes.extend(pool.map(one, images[start : start + _CHUNK]))
    return sizes


def check_box(where: Where, box: Box, size: Size, image_id: str) -> Box:
    """``box`` itself if it lies inside its image (no clipping); else fail.

    Inside = ``0 <= x0 <= x1 <= width`` and ``0 <= y0 <= y1 <= height``: the inclusive pixels
    end at ``width - 1``, but an official box that reaches the far edge (``x1 == width``, as
    ``int(x + w)`` of a CUB box touching the border, or a 1-based ImageNet ``xmax``) is kept as
    the field's metadata keeps it (counted as ``at_far_edge`` in the report); the evaluator
    rescales and clips it like wsolevaluation does.
    """
    x0, y0, x1, y1 = box
    width, height = size
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        fail(
            where,
            f"box ({x0},{y0},{x1},{y1}) of {image_id!r} is not inside its {width}x{height} "
            f"image (needs 0 <= x0 <= x1 <= {width} and 0 <= y0 <= y1 <= {height})",
        )
    return box


def read_split_folder(
    folder: Path,
    image_root: Path,
    *,
    num_classes: int | None,
    require_boxes: bool,
    mask_root: Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Metadata:
    """A split already in wsolevaluation's format (CUBV2, ImageNetV2, OpenImages30k), checked
    against the files.

    Every image id must be a relative path (:func:`relative_id`) naming an image under
    ``image_root``; its size comes from the header and must equal ``image_sizes.txt`` where that
    file exists; boxes must lie inside; every mask and ignore mask must be an image under
    ``mask_root`` (default ``image_root``).
    """
    require(folder, SPLIT_LAYOUT, folder=True)
    meta = read_metadata(
        folder, num_classes=num_classes, require_boxes=require_boxes, require_sizes=require_boxes
    )
    id_lines = first_field_lines(folder / IMAGE_IDS)
    places = {i: Where(folder / IMAGE_IDS, id_lines[i]) for i in meta.image_ids}
    listed = [(image_root / relative_id(places[i], i), places[i]) for i in meta.image_ids]
    sizes = dict(zip(meta.image_ids, header_sizes(listed, workers), strict=True))
    if meta.image_sizes:
        size_lines = first_field_lines(folder / IMAGE_SIZES)
        for image_id, (width, height) in meta.image_sizes.items():
            if sizes[image_id] != (width, height):
                fail(
                    Where(folder / IMAGE_SIZES, size_lines[image_id]),
                    f"size {width}x{height} of {image_id!r} differs from the file's header "
                    "{}x{} ({})".format(*sizes[image_id], image_root / image_id),
                )
    if meta.has_masks:
        mask_file = folder / (MASKS if meta.has_boxes else LOCALIZATION)
        _check_mask_files(mask_file, mask_root or image_root, workers)
    return Metadata(meta.image_ids, meta.class_labels, sizes, meta.boxes, meta.masks)


def _check_mask_files(path: Path, mask_root: Path, workers: int) -> None:
    """Every mask and ignore-mask path of a mask-format ``localization.txt`` is an image."""
    files = [
        (mask_root / name, where)
        for where, (_, mask, ignore) in read_rows(path, 3, sep=",")
        for name in (mask, ignore)
        if name
    ]
    header_sizes(files, workers)


def disjoint(splits: dict[str, Metadata], folder: Path, split: str) -> None:
    """No image id of ``splits[split]`` (read from ``folder``) is in another split."""
    others = {i: name for name, meta in splits.items() if name != split for i in meta.image_ids}
    shared = [i for i in splits[split].image_ids if i in others]
    if shared:
        line = first_field_lines(folder / IMAGE_IDS)[shared[0]]
        fail(
            Where(folder / IMAGE_IDS, line),
            f"image id {shared[0]!r} is also in split {others[shared[0]]!r} "
            f"({len(shared)} shared ids); splits must not overlap",
        )


# ----------------------------------------------------------------------------- report
def _spread(values: Sequence[int]) -> dict[str, float | int]:
    return {
        "min": min(values, default=0),
        "max": max(values, default=0),
        "mean": fmean(values) if values else 0.0,
    }


def split_report(meta: Metadata, num_classes: int, image_root: Path) -> dict[str, Any]:
    """Counts of one split: images (per class), missing files, boxes (outside, at the far
    edge), masks."""
    per_class = [0] * num_classes
    for label in meta.labels():
        per_class[label] += 1
    boxes = [len(meta.boxes.get(i, ())) for i in meta.image_ids]
    placed = [
        (x0, y0, x1, y1, *meta.image_sizes[image_id])
        for image_id, image_boxes in meta.boxes.items()
        for x0, y0, x1, y1 in image_boxes
    ]
    outside = sum(
        not (0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h) for x0, y0, x1, y1, w, h in placed
    )
    at_edge = sum(x1 == w or y1 == h for _, _, x1, y1, w, h in placed)
    masks = [len(meta.masks[i].masks) if i in meta.masks else 0 for i in meta.image_ids]
    return {
        "images": len(meta),
        "images_missing": sum(not (image_root / i).is_file() for i in meta.image_ids),
        "images_per_class": per_class,
        "images_per_class_spread": _spread(per_class),
        "boxes": {
            "total": sum(boxes),
            "images_with_boxes": sum(n > 0 for n in boxes),
            "outside_image": outside,
            "at_far_edge": at_edge,
            "per_image": _spread(boxes),
        },
        "masks": {
            "total": sum(masks),
            "images_with_masks": sum(n > 0 for n in masks),
            "ignore_masks": sum(a.ignore is not None for a in meta.masks.values()),
        },
    }


def build_report(prepared: Prepared) -> dict[str, Any]:
    """The validation report written beside the metadata (``report.json``)."""
    return {
        "kind": prepared.kind,
        "num_classes": prepared.num_classes,
        "class_names": prepared.class_names,
        "image_root": str(prepared.image_root),
        "mask_root": None if prepared.mask_root is None else str(prepared.mask_root),
        "source": prepared.source,
        "notes": prepared.notes,
        "splits": {
            split: split_report(meta, prepared.num_classes, prepared.image_root)
            for split, meta in prepared.splits.items()
        },
    }


# ----------------------------------------------------------------------------- output
@contextmanager
def _staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty sibling folder; on success it replaces ``target`` (renames), else it goes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        fail(target, "output exists and is not a folder")
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield staging
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(staging, target)
        except OSError:
            if old.exists():
                os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_prepared(out: str | os.PathLike, prepared: Prepared) -> Path:
    """Write ``out/<split>/*.txt`` and ``out/report.json`` atomically; returns the report path.

    Each split is read back with :func:`read_metadata` before the folder is renamed into place.
    """
    target = Path(out)
    with _staged_folder(target) as staging:
        for split, meta in prepared.splits.items():
            write_metadata(staging / split, meta)
            read_metadata(staging / split, num_classes=prepared.num_classes)
        write_json(staging / REPORT, build_report(prepared))
    for note in prepared.notes:
        log.info("%s: %s", prepared.kind, note)
    for split, meta in prepared.splits.items():
        log.info(
            "%s/%s: %d images, %d classes", prepared.kind, split, len(meta), len(set(meta.labels()))
        )
    return target / REPORT
