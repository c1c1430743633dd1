"""CUB-200-2011, from the official ``CUB_200_2011/`` folder, to wsolevaluation's metadata.

Read (space-separated, one record per line, ``<id>`` an image number):

- ``images.txt``              ``<id> <path under images/>``
- ``image_class_labels.txt``  ``<id> <class 1..K>``
- ``train_test_split.txt``    ``<id> <1 = train | 0 = test>``
- ``bounding_boxes.txt``      ``<id> <x> <y> <width> <height>`` (float pixels)
- ``classes.txt``             ``<class> <name>`` (optional; fixes K and the class names)
- ``images/<class folder>/<file>.jpg``

A box becomes ``x0 = int(x), y0 = int(y), x1 = int(x + width), y1 = int(y + height)``, as in
wsolevaluation's ``metadata/CUB``; labels are ``class - 1``; image ids are the paths of
``images.txt`` (relative to ``images/``). ``val`` is a wsolevaluation split folder (CUBV2) when
one is given, else a seeded hold-out of the train split (never of test).
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

from mnpo.data.metadata import Box, Metadata
from mnpo.data.prepare.common import (
    DEFAULT_WORKERS,
    Prepared,
    Size,
    Where,
    check_box,
    disjoint,
    fail,
    header_sizes,
    parse_int,
    read_rows,
    read_split_folder,
    relative_id,
    require,
)

LAYOUT = (
    "A CUB root is the official CUB_200_2011/ folder: images.txt, image_class_labels.txt, "
    "train_test_split.txt, bounding_boxes.txt and images/ (see docs/datasets.md)."
)
DEFAULT_VAL_PER_CLASS = 5
DEFAULT_VAL_SEED = 0

Records = dict[str, tuple[Where, list[str]]]


def _records(path: Path, count: int, listed: Records | None = None) -> Records:
    """Id -> (line, other fields) of a CUB table; ids are unique and, given ``listed``, known
    there and complete."""
    records: Records = {}
    for where, (key, *rest) in read_rows(path, count):
        if key in records:
            fail(where, f"duplicate image id {key!r} (first on line {records[key][0].line})")
        if listed is not None and key not in listed:
            fail(where, f"image id {key!r} is not in images.txt")
        records[key] = (where, rest)
    for key, (where, _) in (listed or {}).items():
        if key not in records:
            fail(path, f"no line for image id {key!r} (listed at {where})")
    return records


def _paths(path: Path) -> Records:
    """images.txt: id -> (line, [relative path]); paths are unique usable image ids."""
    records = _records(path, 2)
    seen: dict[str, Where] = {}
    for where, (relative,) in records.values():
        relative_id(where, relative)
        if relative in seen:
            fail(where, f"duplicate image path {relative!r} (first at {seen[relative]})")
        seen[relative] = where
    return records


def _class_names(root: Path, classes: dict[str, tuple[Where, int]], paths: Records) -> list[str]:
    """Names of classes 1..K: classes.txt when present, else the image folder of each class.

    Every class id of image_class_labels.txt must lie in 1..K.
    """
    classes_file = root / "classes.txt"
    if classes_file.is_file():
        rows = read_rows(classes_file, 2)
        for number, (where, (text, _)) in enumerate(rows, 1):
            if parse_int(where, text, "class id") != number:
                fail(where, f"expected class id {number} (ids run 1..K in order), got {text!r}")
        names = [name for _, (_, name) in rows]
    else:
        folders: dict[int, str] = {}
        for image_id, (_, number) in classes.items():
            folders.setdefault(number, Path(paths[image_id][1][0]).parent.name)
        names = [folders.get(c, "") for c in range(1, max(folders) + 1)]
        if "" in names:
            fail(root / "image_class_labels.txt", f"class {names.index('') + 1} has no image")
    for image_id, (where, number) in classes.items():
        if number > len(names):
            fail(where, f"class id {number} of image {image_id!r} exceeds the {len(names)} classes")
    return names


def _classes(path: Path, paths: Records) -> dict[str, tuple[Where, int]]:
    """image_class_labels.txt: id -> (line, class id >= 1)."""
    classes = {}
    for image_id, (where, (text,)) in _records(path, 2, paths).items():
        number = parse_int(where, text, "class id")
        if number < 1:
            fail(where, f"class id {number} of image {image_id!r} must be >= 1")
        classes[image_id] = (where, number)
    return classes


def _is_train(path: Path, paths: Records) -> dict[str, bool]:
    flags = {}
    for image_id, (where, (text,)) in _records(path, 2, paths).items():
        if text not in ("0", "1"):
            fail(where, f"split flag must be 1 (train) or 0 (test), got {text!r}")
        flags[image_id] = text == "1"
    return flags


def _box(where: Where, values: list[str], size: Size, image_id: str) -> Box:
    """``x y width height`` in float pixels -> inclusive integer box (truncation, no clipping)."""
    try:
        x, y, width, height = (float(v) for v in values)
    except ValueError:
        fail(where, f"box values are not numbers: {' '.join(values)!r}")
    if not all(math.isfinite(v) and v >= 0 for v in (x, y, width, height)):
        fail(where, f"box values must be finite and >= 0: {' '.join(values)!r}")
    return check_box(where, (int(x), int(y), int(x + width), int(y + height)), size, image_id)


def _holdout(
    train_ids: list[str], labels: dict[str, int], per_class: int, seed: int, names: list[str]
) -> set[str]:
    """``per_class`` train ids of every class, drawn by ``random.Random(seed).sample`` over each
    class's ids in images.txt order, classes in label order."""
    rng = random.Random(seed)
    held: set[str] = set()
    for label, name in enumerate(names):
        members = [i for i in train_ids if labels[i] == label]
        if len(members) <= per_class:
            raise ValueError(
                f"class {label + 1} ({name}) has {len(members)} train images: too few to hold "
                f"out {per_class} as val and keep one for training (lower val_per_class)"
            )
        held.update(rng.sample(members, per_class))
    return held


def prepare_cub(
    root: str | os.PathLike,
    *,
    val_metadata: str | os.PathLike | None = None,
    val_per_class: int = DEFAULT_VAL_PER_CLASS,
    val_seed: int = DEFAULT_VAL_SEED,
    workers: int = DEFAULT_WORKERS,
) -> Prepared:
    """Convert ``root`` (``CUB_200_2011/``) into train / val / test.

    Args:
        val_metadata: a wsolevaluation split folder (CUBV2's ``metadata/CUB/val``) whose image
            ids lie under ``root/images`` (unpack CUBV2's class folders there, as upstream does).
        val_per_class: without ``val_metadata``, train images per class held out as ``val``.
        val_seed: seed of that hold-out.
        workers: threads reading image headers.

    Raises:
        MetadataError: a missing file, a wrong field count, a duplicate or unknown id, a missing
            or unreadable image, a box not inside its image; named by file and line.
        ValueError: ``val_per_class`` too large for a class (or < 1).
    """
    if val_per_class < 1:
        raise ValueError(f"val_per_class must be >= 1, got {val_per_class}")
    base = require(Path(root), LAYOUT, folder=True)
    image_root = require(base / "images", LAYOUT, folder=True)
    paths = _paths(require(base / "images.txt", LAYOUT))
    if not paths:
        fail(base / "images.txt", "no images listed")
    classes = _classes(require(base / "image_class_labels.txt", LAYOUT), paths)
    is_train = _is_train(require(base / "train_test_split.txt", LAYOUT), paths)
    box_rows = _records(require(base / "bounding_boxes.txt", LAYOUT), 5, paths)
    names = _class_names(base, classes, paths)
    keys = list(paths)
    ids = {k: paths[k][1][0] for k in keys}
    sizes = header_sizes([(image_root / ids[k], paths[k][0]) for k in keys], workers)
    size_of = dict(zip(keys, sizes, strict=True))
    boxes = {ids[k]: (_box(*box_rows[k], size_of[k], ids[k]),) for k in keys}
    labels = {ids[k]: classes[k][1] - 1 for k in keys}
    image_sizes = {ids[k]: size_of[k] for k in keys}

    def split(members: list[str]) -> Metadata:
        return Metadata(
            tuple(members),
            {i: labels[i] for i in members},
            {i: image_sizes[i] for i in members},
            {i: boxes[i] for i in members},
        )

    train_ids = [ids[k] for k in keys if is_train[k]]
    test_ids = [ids[k] for k in keys if not is_train[k]]
    source: dict[str, object] = {"root": str(base)}
    if val_metadata is not None:
        folder = Path(val_metadata)
        val = read_split_folder(
            folder, image_root, num_classes=len(names), require_boxes=True, workers=workers
        )
        splits = {"train": split(train_ids), "val": val, "test": split(test_ids)}
        disjoint(splits, folder, "val")
        source["val_metadata"] = str(folder)
        note = f"val: wsolevaluation split folder {folder} (CUBV2)"
    else:
        held = _holdout(train_ids, labels, val_per_class, val_seed, names)
        splits = {
            "train": split([i for i in train_ids if i not in held]),
            "val": split([i for i in train_ids if i in held]),
            "test": split(test_ids),
        }
        source.update(val_per_class=val_per_class, val_seed=val_seed)
        note = (
            f"val: {val_per_class} train images per class held out (seed {val_seed}); "
            "test untouched"
        )
    return Prepared("cub", splits, names, image_root, source=source, notes=[note])
