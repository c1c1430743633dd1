"""ILSVRC2012 (ImageNet-1k), from a local folder, to wsolevaluation's metadata.

Read, under ``ROOT``:

- ``train/<wnid>/<file>.JPEG``: the ``train`` split (labels only, no boxes, as upstream);
- ``val/<file>.JPEG``: the ``test`` split (ImageNet "val", as upstream), with boxes from either
  Pascal-VOC XML files ``<stem>.xml`` (``<object><name>wnid</name><bndbox><xmin>`` ...; ImageNet's
  own ``val/`` XMLs, by default beside the images) or Kaggle's ``LOC_val_solution.csv``
  (``ImageId,PredictionString``, the string a run of ``wnid xmin ymin xmax ymax``);
- ``LOC_synset_mapping.txt`` (optional, ``<wnid> <names>``): the class order; without it the
  class index is the sorted order of the ``train/`` folders;
- ``val`` (ImageNetV2, upstream's ``train-fullsup``): only from a wsolevaluation split folder
  (``metadata/ILSVRC/val``, ids such as ``val2/0/0.jpeg`` under ``ROOT``), because its boxes
  exist only there.

Image ids are ``train/<wnid>/<file>`` and ``val/<file>`` (upstream's). Box coordinates are
taken as they are: integers, inclusive, inside the image.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from mnpo.data.metadata import Box, Metadata
from mnpo.data.prepare.common import (
    DEFAULT_WORKERS,
    Prepared,
    Where,
    check_box,
    disjoint,
    fail,
    header_sizes,
    parse_int,
    read_rows,
    read_split_folder,
    read_text,
    relative_id,
    require,
)

LAYOUT = (
    "An ILSVRC root holds train/<wnid>/*.JPEG and val/*.JPEG, with the val boxes as "
    "val/<image>.xml, LOC_val_solution.csv or --boxes (see docs/datasets.md)."
)
SYNSETS = "LOC_synset_mapping.txt"
SOLUTION = "LOC_val_solution.csv"
_CSV_HEADER = ["ImageId", "PredictionString"]
_BOX_TAGS = ("xmin", "ymin", "xmax", "ymax")

# One image's annotation: where it was read, its class (wnid), its boxes with their own places.
Annotation = tuple[Where, str, list[tuple[Where, Box]]]


def _files(folder: Path, skip_suffix: str | None = None) -> list[Path]:
    """Regular, non-hidden files of ``folder`` sorted by name (minus ``skip_suffix`` ones)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and (skip_suffix is None or p.suffix.lower() != skip_suffix)
    )


def _synsets(path: Path) -> tuple[list[str], list[str]]:
    """LOC_synset_mapping.txt: wnids in file order and the first name of each."""
    wnids: dict[str, int] = {}
    names = []
    for number, raw in enumerate(read_text(path).split("\n"), 1):
        if not raw.strip():
            continue
        wnid, *rest = raw.strip().split(None, 1)
        if wnid in wnids:
            fail(Where(path, number), f"duplicate synset {wnid!r} (first on line {wnids[wnid]})")
        wnids[wnid] = number
        names.append(rest[0].split(",")[0].strip() if rest else wnid)
    if not wnids:
        fail(path, "no synsets listed")
    return list(wnids), names


def _classes(train: Path, synsets: Path | None) -> tuple[list[str], list[str]]:
    """Class wnids (index order) and names; every class has exactly one ``train/`` folder."""
    folders = sorted(p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        fail(train, f"no class folders. {LAYOUT}")
    if synsets is None:
        return folders, folders
    wnids, names = _synsets(synsets)
    for folder in folders:
        if folder not in wnids:
            fail(train / folder, f"class folder is not a synset of {synsets}")
    missing = [w for w in wnids if w not in folders]
    if missing:
        fail(train / missing[0], f"folder not found for synset {missing[0]!r} of {synsets}")
    return wnids, names


def _train(train: Path, wnids: Sequence[str], workers: int) -> Metadata:
    """``train/<wnid>/<file>`` in class order then file name; sizes from the headers."""
    files: list[Path] = []
    labels: dict[str, int] = {}
    for label, wnid in enumerate(wnids):
        members = _files(train / wnid)
        if not members:
            fail(train / wnid, "class folder holds no images")
        for path in members:
            image_id = relative_id(Where(path), f"train/{wnid}/{path.name}")
            files.append(path)
            labels[image_id] = label
    ids = tuple(labels)
    sizes = header_sizes([(path, None) for path in files], workers)
    return Metadata(ids, labels, dict(zip(ids, sizes, strict=True)))


def _xml_annotation(path: Path) -> Annotation:
    """One Pascal-VOC file: the class of its objects and their boxes."""
    where = Where(path)
    if not path.is_file():
        fail(path, f"file not found (boxes of the image of the same name). {LAYOUT}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        fail(Where(path, err.position[0]), f"not valid XML ({err})")
    wnids, boxes = set(), []
    for k, obj in enumerate(root.iter("object"), 1):
        wnids.add((obj.findtext("name") or "").strip())
        bndbox = obj.find("bndbox")
        coords: list[int] = []
        for tag in _BOX_TAGS:
            text = None if bndbox is None else bndbox.findtext(tag)
            if text is None:
                fail(where, f"object {k} lacks <bndbox><{tag}>")
            coords.append(parse_int(where, text.strip(), f"object {k} <{tag}>"))
        boxes.append((where, (coords[0], coords[1], coords[2], coords[3])))
    if not boxes:
        fail(where, "no <object> with a box")
    return where, _single_class(where, wnids), boxes


def _single_class(where: Where, wnids: set[str]) -> str:
    if len(wnids) != 1 or "" in wnids:
        fail(where, f"objects must name one class (wnid), got {sorted(wnids)}")
    return next(iter(wnids))


def _csv_annotations(path: Path) -> dict[str, Annotation]:
    """LOC_val_solution.csv: image stem -> annotation."""
    rows = read_rows(path, 2, sep=",")
    if not rows or rows[0][1] != _CSV_HEADER:
        fail(rows[0][0] if rows else path, f"expected the header {','.join(_CSV_HEADER)!r}")
    annotations: dict[str, Annotation] = {}
    for where, (stem, text) in rows[1:]:
        if stem in annotations:
            fail(where, f"duplicate ImageId {stem!r} (first on line {annotations[stem][0].line})")
        tokens = text.split()
        if not tokens or len(tokens) % 5:
            fail(where, f"PredictionString must repeat 'wnid xmin ymin xmax ymax': {text!r}")
        groups = [tokens[k : k + 5] for k in range(0, len(tokens), 5)]
        boxes = []
        for wnid, *coords in groups:
            x0, y0, x1, y1 = (parse_int(where, c, f"coordinate of {wnid}") for c in coords)
            boxes.append((where, (x0, y0, x1, y1)))
        annotations[stem] = (where, _single_class(where, {g[0] for g in groups}), boxes)
    return annotations


def _test(val: Path, boxes: Path, wnids: Sequence[str], workers: int) -> tuple[Metadata, str]:
    """``val/<file>`` with labels and boxes from ``boxes`` (a CSV file or a folder of XMLs)."""
    images = _files(val, skip_suffix=".xml")
    if not images:
        fail(val, f"no images. {LAYOUT}")
    if boxes.is_file():
        table = _csv_annotations(boxes)
        stems = {p.stem for p in images}
        for stem, (where, _, _) in table.items():
            if stem not in stems:
                fail(where, f"no image {val / stem}.* for this row")
        absent = [p for p in images if p.stem not in table]
        if absent:
            fail(absent[0], f"image has no row in {boxes}")
        annotations = [table[p.stem] for p in images]
    else:
        if not any(boxes.glob("*.xml")):
            fail(boxes, f"no boxes for the val images: no *.xml here. {LAYOUT}")
        annotations = [_xml_annotation(boxes / f"{p.stem}.xml") for p in images]
    index = {wnid: label for label, wnid in enumerate(wnids)}
    ids = tuple(relative_id(Where(p), f"val/{p.name}") for p in images)
    sizes = dict(zip(ids, header_sizes([(p, None) for p in images], workers), strict=True))
    labels, image_boxes = {}, {}
    for image_id, (where, wnid, found) in zip(ids, annotations, strict=True):
        if wnid not in index:
            fail(where, f"class {wnid!r} of {image_id!r} is not a training class")
        labels[image_id] = index[wnid]
        image_boxes[image_id] = tuple(check_box(w, b, sizes[image_id], image_id) for w, b in found)
    source = "csv" if boxes.is_file() else "xml"
    return Metadata(ids, labels, sizes, image_boxes), source


def prepare_ilsvrc(
    root: str | os.PathLike,
    *,
    boxes: str | os.PathLike | None = None,
    synsets: str | os.PathLike | None = None,
    val_metadata: str | os.PathLike | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Prepared:
    """Convert ``root`` into train / (val) / test.

    Args:
        boxes: ``LOC_val_solution.csv`` or a folder of ``<stem>.xml``; default
            ``root/LOC_val_solution.csv`` when it exists, else the XMLs in ``root/val``.
        synsets: class-order file; default ``root/LOC_synset_mapping.txt`` when it exists, else
            the sorted ``train/`` folder names.
        val_metadata: wsolevaluation's ImageNetV2 split folder; ids resolve under ``root``.
            Without it there is no ``val`` split (training needs one).
        workers: threads reading image headers.

    Raises:
        MetadataError: a missing file or folder, a bad line, a duplicate id, an unknown class, a
            missing or unreadable image, a box not inside its image; named by file and line.
    """
    base = require(Path(root), LAYOUT, folder=True)
    train_dir = require(base / "train", LAYOUT, folder=True)
    val_dir = require(base / "val", LAYOUT, folder=True)
    synsets_file = base / SYNSETS if synsets is None else require(Path(synsets), LAYOUT)
    wnids, names = _classes(train_dir, synsets_file if synsets_file.is_file() else None)
    default_boxes = base / SOLUTION if (base / SOLUTION).is_file() else val_dir
    box_source = Path(boxes) if boxes is not None else default_boxes
    if not box_source.exists():
        fail(box_source, f"not found. {LAYOUT}")
    test, box_format = _test(val_dir, box_source, wnids, workers)
    splits = {"train": _train(train_dir, wnids, workers), "test": test}
    source: dict[str, object] = {"root": str(base), "boxes": str(box_source), "format": box_format}
    if synsets_file.is_file():
        source["synsets"] = str(synsets_file)
    if val_metadata is None:
        notes = ["no val split: pass wsolevaluation's ImageNetV2 metadata (val_metadata)"]
    else:
        folder = Path(val_metadata)
        splits["val"] = read_split_folder(
            folder, base, num_classes=len(wnids), require_boxes=True, workers=workers
        )
        disjoint(splits, folder, "val")
        source["val_metadata"] = str(folder)
        notes = [f"val: wsolevaluation split folder {folder} (ImageNetV2)"]
    ordered = {s: splits[s] for s in ("train", "val", "test") if s in splits}
    return Prepared("ilsvrc", ordered, names, base, source=source, notes=notes)
