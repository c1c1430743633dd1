"""wsolevaluation's metadata format: read, validate, write.

One folder per split holds comma-separated text files, no header (see docs/formats.md):

- ``image_ids.txt``     ``<image_id>``                       evaluation order
- ``class_labels.txt``  ``<image_id>,<label>``               label in ``0..K-1``
- ``image_sizes.txt``   ``<image_id>,<width>,<height>``      original size in pixels
- ``localization.txt``  ``<image_id>,<x0>,<y0>,<x1>,<y1>``   one line per GT box, inclusive pixels
  or, for mask datasets (OpenImages), ``<image_id>,<mask png>,<ignore png or empty>``
- ``masks.txt``         optional, the mask line format, for datasets with boxes *and* masks
  (our synthetic set), so box metrics and PxAP come from one split.

As upstream, the last line carries no trailing newline. Every error names the file and the
1-based line number (``MetadataError``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mnpo.io import write_text

Box = tuple[int, int, int, int]

IMAGE_IDS = "image_ids.txt"
CLASS_LABELS = "class_labels.txt"
IMAGE_SIZES = "image_sizes.txt"
LOCALIZATION = "localization.txt"
MASKS = "masks.txt"


class MetadataError(ValueError):
    """Malformed or inconsistent metadata; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class MaskAnnotation:
    """Instance masks of one image: PNG paths relative to the mask root, plus an ignore mask."""

    masks: tuple[str, ...]
    ignore: str | None = None


@dataclass(frozen=True, slots=True)
class Metadata:
    """One split of a dataset in wsolevaluation's format.

    Attributes:
        image_ids: evaluation order (ids are paths relative to the image root).
        class_labels: id -> label in ``0..K-1``.
        image_sizes: id -> (width, height) of the original image.
        boxes: id -> inclusive GT boxes ``(x0, y0, x1, y1)`` in original pixels (empty if none).
        masks: id -> mask annotation (empty mapping for box-only datasets).
    """

    image_ids: tuple[str, ...]
    class_labels: dict[str, int]
    image_sizes: dict[str, tuple[int, int]]
    boxes: dict[str, tuple[Box, ...]] = field(default_factory=dict)
    masks: dict[str, MaskAnnotation] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def has_boxes(self) -> bool:
        return bool(self.boxes)

    @property
    def has_masks(self) -> bool:
        return bool(self.masks)

    def labels(self) -> list[int]:
        """Labels in evaluation order."""
        return [self.class_labels[i] for i in self.image_ids]


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines of ``path`` with their 1-based numbers; a missing file is an error."""
    if not path.is_file():
        raise MetadataError(f"{path}: metadata file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise MetadataError(f"{path}: not a UTF-8 text file ({err})") from err
    return [(n, line.strip("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def _fields(path: Path, number: int, line: str, count: int | tuple[int, ...]) -> list[str]:
    parts = line.split(",")
    allowed = (count,) if isinstance(count, int) else count
    if len(parts) not in allowed:
        want = " or ".join(str(c) for c in allowed)
        raise MetadataError(
            f"{path}:{number}: expected {want} comma-separated fields, got {len(parts)}: {line!r}"
        )
    return parts


def _int(path: Path, number: int, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise MetadataError(f"{path}:{number}: {what} is not an integer: {text!r}") from None


def _known(path: Path, number: int, image_id: str, ids: set[str]) -> None:
    if image_id not in ids:
        raise MetadataError(f"{path}:{number}: image id {image_id!r} is not in {IMAGE_IDS}")


def _read_image_ids(path: Path) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    for number, line in _lines(path):
        image_id = _fields(path, number, line, 1)[0]
        if image_id in seen:
            raise MetadataError(
                f"{path}:{number}: duplicate image id {image_id!r} (first on line {seen[image_id]})"
            )
        seen[image_id] = number
    if not seen:
        raise MetadataError(f"{path}: no image ids")
    return tuple(seen)


def _read_labels(path: Path, ids: set[str], num_classes: int | None) -> dict[str, int]:
    labels: dict[str, int] = {}
    for number, line in _lines(path):
        image_id, text = _fields(path, number, line, 2)
        _known(path, number, image_id, ids)
        label = _int(path, number, text, "class label")
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
            raise MetadataError(
                f"{path}:{number}: class label {label} of {image_id!r} is out of range {bound}"
            )
        labels[image_id] = label
    return labels


def _read_sizes(path: Path, ids: set[str]) -> dict[str, tuple[int, int]]:
    sizes: dict[str, tuple[int, int]] = {}
    for number, line in _lines(path):
        image_id, w, h = _fields(path, number, line, 3)
        _known(path, number, image_id, ids)
        width, height = _int(path, number, w, "width"), _int(path, number, h, "height")
        if width <= 0 or height <= 0:
            raise MetadataError(f"{path}:{number}: image size must be positive, got {w}x{h}")
        sizes[image_id] = (width, height)
    return sizes


def _read_boxes(
    path: Path, lines: list[tuple[int, str]], ids: set[str], sizes: dict[str, tuple[int, int]]
) -> dict[str, tuple[Box, ...]]:
    boxes: dict[str, list[Box]] = {}
    for number, line in lines:
        image_id, *coords = _fields(path, number, line, 5)
        _known(path, number, image_id, ids)
        x0, y0, x1, y1 = (_int(path, number, c, "box coordinate") for c in coords)
        if not (0 <= x0 <= x1 and 0 <= y0 <= y1):
            raise MetadataError(
                f"{path}:{number}: box ({x0},{y0},{x1},{y1}) needs 0 <= x0 <= x1 and 0 <= y0 <= y1"
            )
        if image_id in sizes:
            width, height = sizes[image_id]
            if x1 > width or y1 > height:  # x1 == width: a box reaching the far edge
                raise MetadataError(
                    f"{path}:{number}: box ({x0},{y0},{x1},{y1}) lies outside the "
                    f"{width}x{height} image {image_id!r}"
                )
        boxes.setdefault(image_id, []).append((x0, y0, x1, y1))
    return {k: tuple(v) for k, v in boxes.items()}


def _read_masks(
    path: Path, lines: list[tuple[int, str]], ids: set[str]
) -> dict[str, MaskAnnotation]:
    masks: dict[str, list[str]] = {}
    ignores: dict[str, str | None] = {}
    for number, line in lines:
        image_id, mask, ignore = _fields(path, number, line, 3)
        _known(path, number, image_id, ids)
        if not mask:
            raise MetadataError(f"{path}:{number}: empty mask path for {image_id!r}")
        masks.setdefault(image_id, []).append(mask)
        if ignore:
            ignores[image_id] = ignore
    return {k: MaskAnnotation(tuple(v), ignores.get(k)) for k, v in masks.items()}


def _is_mask_format(lines: list[tuple[int, str]]) -> bool:
    return bool(lines) and len(lines[0][1].split(",")) == 3


def _check_complete(path: Path, what: str, ids: Sequence[str], mapping: dict) -> None:
    missing = [i for i in ids if i not in mapping]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MetadataError(f"{path}: no {what} for image id {missing[0]!r}{more}")


def read_metadata(
    folder: str | os.PathLike,
    *,
    num_classes: int | None = None,
    require_boxes: bool = False,
    require_sizes: bool = True,
) -> Metadata:
    """Read and validate one split folder.

    Args:
        folder: the split folder holding the ``*.txt`` files.
        num_classes: when given, labels must lie in ``0..num_classes-1``.
        require_boxes: every image must have at least one box.
        require_sizes: ``image_sizes.txt`` must exist. When False and it is absent (upstream's
            OpenImages metadata), ``image_sizes`` is empty; boxes still need every size.

    Raises:
        MetadataError: a missing file, a line with the wrong field count, a non-integer, an
            unknown or duplicate id, a label out of range, a box outside its image, an image
            with no label or size.
    """
    root = Path(folder)
    ids_path = root / IMAGE_IDS
    image_ids = _read_image_ids(ids_path)
    ids = set(image_ids)
    labels_path, sizes_path = root / CLASS_LABELS, root / IMAGE_SIZES
    labels = _read_labels(labels_path, ids, num_classes)
    _check_complete(labels_path, "class label", image_ids, labels)
    sizes = _read_sizes(sizes_path, ids) if require_sizes or sizes_path.exists() else {}
    boxes: dict[str, tuple[Box, ...]] = {}
    masks: dict[str, MaskAnnotation] = {}
    loc_path = root / LOCALIZATION
    if loc_path.exists():
        lines = _lines(loc_path)
        if _is_mask_format(lines):
            masks = _read_masks(loc_path, lines, ids)
        else:
            boxes = _read_boxes(loc_path, lines, ids, sizes)
            _check_complete(sizes_path, "image size", image_ids, sizes)
    mask_path = root / MASKS
    if mask_path.exists():
        masks = _read_masks(mask_path, _lines(mask_path), ids)
    if require_boxes:
        _check_complete(loc_path, "box", image_ids, boxes)
    return Metadata(image_ids, labels, sizes, boxes, masks)


def _atomic_write(path: Path, lines: Iterable[str]) -> None:
    """Write lines joined by ``\\n`` with no trailing newline, atomically (rename)."""
    write_text(path, "\n".join(lines))


def write_metadata(folder: str | os.PathLike, metadata: Metadata) -> None:
    """Write ``metadata`` into ``folder`` in wsolevaluation's layout (each file atomically).

    Boxes go to ``localization.txt``; masks go to ``localization.txt`` when there are no boxes
    (OpenImages style) and to ``masks.txt`` otherwise.
    """
    root = Path(folder)
    ids = metadata.image_ids
    _atomic_write(root / IMAGE_IDS, ids)
    _atomic_write(root / CLASS_LABELS, (f"{i},{metadata.class_labels[i]}" for i in ids))
    _atomic_write(
        root / IMAGE_SIZES, (f"{i},{w},{h}" for i in ids for w, h in [metadata.image_sizes[i]])
    )
    if metadata.boxes:
        _atomic_write(
            root / LOCALIZATION,
            (
                f"{i},{x0},{y0},{x1},{y1}"
                for i in ids
                for x0, y0, x1, y1 in metadata.boxes.get(i, ())
            ),
        )
    if metadata.masks:
        target = MASKS if metadata.boxes else LOCALIZATION
        _atomic_write(root / target, _mask_lines(ids, metadata.masks))


def _mask_lines(ids: Sequence[str], masks: dict[str, MaskAnnotation]) -> Iterable[str]:
    for image_id in ids:
        if image_id not in masks:
            continue
        annotation = masks[image_id]
        for k, mask in enumerate(annotation.masks):
            ignore = annotation.ignore if k == 0 and annotation.ignore else ""
            yield f"{image_id},{mask},{ignore}"
