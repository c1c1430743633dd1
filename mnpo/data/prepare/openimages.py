"""OpenImages30k (wsolevaluation's curated OpenImages), checked and rewritten with image sizes.

Read:

- ``ROOT/<split>/<class>/<image>.jpg`` with the masks beside the images
  (``<image>_m<class>_<k>.png``, ``<image>_ignore.png``), as upstream's download unpacks them;
- upstream's metadata, ``metadata/OpenImages/<split>/`` (``image_ids.txt``, ``class_labels.txt``,
  ``localization.txt`` with ``<image_id>,<mask png>,<ignore png or empty>`` lines;
  ``image_sizes.txt`` optional), at ``ROOT/metadata`` or given.

Every split folder present (``train``, ``val``, ``test``) is converted; ``val`` and ``test`` need
a mask for every image (PxAP). Image ids and mask paths stay relative to ``ROOT`` (upstream's),
sizes come from the image headers, and every mask must be a readable image. The class count is
the largest label + 1; a class's name is the folder of its first image.
"""

from __future__ import annotations

import os
from pathlib import Path

from mnpo.data.metadata import LOCALIZATION, Metadata
from mnpo.data.prepare.common import (
    DEFAULT_WORKERS,
    Prepared,
    disjoint,
    fail,
    read_split_folder,
    require,
)

LAYOUT = (
    "An OpenImages root holds <split>/<class>/<image>.jpg with its masks, and wsolevaluation's "
    "metadata/OpenImages/<split>/ folders at ROOT/metadata or --metadata (see docs/datasets.md)."
)
SPLITS = ("train", "val", "test")
MASKED_SPLITS = ("val", "test")


def _class_names(splits: dict[str, Metadata]) -> list[str]:
    """Label -> the folder name of its first image (splits in order); K = largest label + 1."""
    folders: dict[int, str] = {}
    for meta in splits.values():
        for image_id in meta.image_ids:
            folders.setdefault(meta.class_labels[image_id], Path(image_id).parent.name)
    return [folders.get(label, str(label)) for label in range(max(folders) + 1)]


def _check_masked(folder: Path, meta: Metadata) -> None:
    """Every image of an evaluation split has a mask."""
    unmasked = [i for i in meta.image_ids if i not in meta.masks]
    if unmasked:
        fail(
            folder / LOCALIZATION,
            f"no mask for image id {unmasked[0]!r} ({len(unmasked)} images without masks; "
            "val and test need masks for PxAP)",
        )


def prepare_openimages(
    root: str | os.PathLike,
    *,
    metadata: str | os.PathLike | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Prepared:
    """Check upstream's OpenImages metadata against ``root`` and return it with image sizes.

    Args:
        metadata: the folder holding ``train/``, ``val/``, ``test/`` (upstream's
            ``metadata/OpenImages``); default ``root/metadata``.
        workers: threads reading image and mask headers.

    Raises:
        MetadataError: a missing file, a bad line, a duplicate id, a missing or unreadable image
            or mask, an evaluation image without a mask; named by file and line.
    """
    base = require(Path(root), LAYOUT, folder=True)
    meta_root = require(
        Path(metadata) if metadata is not None else base / "metadata", LAYOUT, folder=True
    )
    present = [s for s in SPLITS if (meta_root / s).is_dir()]
    if not present:
        fail(meta_root, f"no split folder (train, val or test). {LAYOUT}")
    splits = {}
    for split in present:
        folder = meta_root / split
        if split in MASKED_SPLITS:
            require(folder / LOCALIZATION, "val and test need mask annotations for PxAP.")
        meta = read_split_folder(
            folder, base, num_classes=None, require_boxes=False, mask_root=base, workers=workers
        )
        if split in MASKED_SPLITS:
            _check_masked(folder, meta)
        splits[split] = meta
    for split in present:
        disjoint(splits, meta_root / split, split)
    source = {"root": str(base), "metadata": str(meta_root), "splits": present}
    return Prepared("openimages", splits, _class_names(splits), base, base, source=source)
