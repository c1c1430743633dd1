"""``photos``: real photographs shipped inside Python packages, with boxes annotated by hand.

The annotations live beside this module (README.md says how they were made and under which
licenses the photographs are): ``metadata/<split>/`` in wsolevaluation's format (labels are
0-based ImageNet-1k class indices) and ``sources.csv``, which names for each image id the
installed package and the file inside it (``skimage`` ``data/coffee.png``) plus the ImageNet
class name of its label. A photograph holding objects of several ImageNet classes appears once
per class, under one image id per (photograph, class), with every box of that class.

:func:`export_photos` copies each file byte for byte from its package into a dataset folder
(nothing is downloaded) and checks it against the annotated image size.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mnpo.data.images import image_size
from mnpo.data.metadata import Metadata, read_metadata, write_metadata
from mnpo.grid import IMAGENET_CLASSES

ANNOTATIONS = Path(__file__).resolve().parent
SOURCES = ANNOTATIONS / "sources.csv"
SPLITS = ("test",)


@dataclass(frozen=True, slots=True)
class PhotoSource:
    """Where one image id comes from.

    Attributes:
        image_id: the id in the metadata (a path relative to the image root).
        package: the importable package that ships the file (``skimage``).
        resource: the file's path inside that package (``data/coffee.png``).
        imagenet_class: the ImageNet-1k class name of the image's label (for readers; the
            tests check it against torchvision's class list).
        license: the photograph's license, in short.
    """

    image_id: str
    package: str
    resource: str
    imagenet_class: str
    license: str


def read_sources(path: str | os.PathLike = SOURCES) -> dict[str, PhotoSource]:
    """``sources.csv`` as image id -> source, in file order.

    Raises:
        ValueError: a duplicate image id.
    """
    sources: dict[str, PhotoSource] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            source = PhotoSource(**row)
            if source.image_id in sources:
                raise ValueError(f"{path}: duplicate image id {source.image_id!r}")
            sources[source.image_id] = source
    return sources


def annotations(split: str) -> Metadata:
    """The annotated metadata of ``split`` (every image has at least one box)."""
    return read_metadata(
        ANNOTATIONS / "metadata" / split, num_classes=IMAGENET_CLASSES, require_boxes=True
    )


def source_file(source: PhotoSource) -> Path:
    """The installed file of ``source`` (the package is located, not imported).

    Raises:
        FileNotFoundError: the package is not installed or no longer ships the file.
    """
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {source.package!r} (for image {source.image_id!r}) is not installed"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / source.resource
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {source.package} ships no {source.resource}")
    return path


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (torchvision's list, no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def export_photos(root: str | os.PathLike) -> dict[str, Path]:
    """Copy every annotated photograph into ``root/images`` and its split's metadata into
    ``root/metadata/<split>``; returns split -> metadata folder.

    Raises:
        ValueError: an image id without source (or a source without annotation), or a copied
            file whose size differs from the annotated one (the package changed its image).
        FileNotFoundError: a package or file that is not installed.
    """
    target = Path(root)
    sources = read_sources()
    folders: dict[str, Path] = {}
    annotated: set[str] = set()
    for split in SPLITS:
        metadata = annotations(split)
        annotated.update(metadata.image_ids)
        for image_id in metadata.image_ids:
            if image_id not in sources:
                raise ValueError(f"{SOURCES}: no source for image id {image_id!r}")
            path = target / "images" / image_id
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_file(sources[image_id]), path)
            if image_size(path) != metadata.image_sizes[image_id]:
                raise ValueError(
                    f"{path}: {image_size(path)} pixels, but annotated as "
                    f"{metadata.image_sizes[image_id]}; {sources[image_id].package} changed it"
                )
        folders[split] = target / "metadata" / split
        write_metadata(folders[split], metadata)
    unused = sorted(set(sources) - annotated)
    if unused:
        raise ValueError(f"{SOURCES}: sources without annotation: {unused}")
    return folders
