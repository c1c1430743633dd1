"""Official dataset layouts -> wsolevaluation's metadata (CUB-200-2011, ILSVRC2012, OpenImages30k).

Each converter reads a local folder (nothing is downloaded, no image is copied), checks every
record against the files (image headers, boxes inside images, masks present) and returns a
:class:`Prepared`; :func:`write_prepared` writes ``<out>/<split>/*.txt`` and ``report.json``
atomically. Layouts, split policy and report: docs/datasets.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mnpo.data.prepare.common import (
    DEFAULT_WORKERS,
    REPORT,
    Prepared,
    build_report,
    write_prepared,
)
from mnpo.data.prepare.cub import prepare_cub
from mnpo.data.prepare.ilsvrc import prepare_ilsvrc
from mnpo.data.prepare.openimages import prepare_openimages

__all__ = [
    "KINDS",
    "OPTIONS",
    "REPORT",
    "Prepared",
    "build_report",
    "convert",
    "prepare_cub",
    "prepare_ilsvrc",
    "prepare_openimages",
    "write_prepared",
]

KINDS = ("cub", "ilsvrc", "openimages")
# The options each converter takes besides ``root`` (config keys = keyword arguments).
OPTIONS: dict[str, tuple[str, ...]] = {
    "cub": ("val_metadata", "val_per_class", "val_seed"),
    "ilsvrc": ("boxes", "synsets", "val_metadata"),
    "openimages": ("metadata",),
}
_CONVERTERS = {"cub": prepare_cub, "ilsvrc": prepare_ilsvrc, "openimages": prepare_openimages}


def convert(kind: str, options: Mapping[str, Any], *, workers: int = DEFAULT_WORKERS) -> Prepared:
    """Run the converter of ``kind`` with config-style ``options``.

    Args:
        options: ``root`` plus the kind's own keys (:data:`OPTIONS`); None values are ignored,
            and so are keys that belong to no converter (a dataset spec's ``train``, ...).

    Raises:
        ValueError: an unknown kind, no ``root``, or a key of another converter.
        MetadataError: the source does not match its layout (named by file and line).
    """
    if kind not in _CONVERTERS:
        raise ValueError(f"unknown dataset kind {kind!r}; converters: {', '.join(KINDS)}")
    if not options.get("root"):
        raise ValueError(f"dataset kind {kind!r} needs 'root', the local dataset folder")
    others = {key for keys in OPTIONS.values() for key in keys} - set(OPTIONS[kind])
    foreign = sorted(key for key in others if options.get(key) is not None)
    if foreign:
        raise ValueError(
            f"{', '.join(foreign)}: not an option of kind {kind!r} "
            f"(it takes root, {', '.join(OPTIONS[kind])})"
        )
    chosen = {key: options[key] for key in OPTIONS[kind] if options.get(key) is not None}
    return _CONVERTERS[kind](options["root"], workers=workers, **chosen)
