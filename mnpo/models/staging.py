"""Staging ImageNet weights into the results tree, checksum-verified, before any training job.

A local rule resolves each backbone's weights once (configured file or folder, the file a
Python package installs, the torch hub cache: ``mnpo.models.weights``), checks the file's
SHA-256 against the prefix in its torchvision-style name (``vgg16-397923af.pth``: the digest
starts with ``397923af``), and links or copies it to ``results/weights/<backbone>/``. Training
jobs (possibly on compute nodes without network or hub cache) read only that folder, whose
``staged.json`` records where the file came from and whether its checksum was known::

    {"backbone": "vgg16", "file": "vgg16-397923af.pth", "source": "/data/weights/...",
     "sha256": "397923af8e79...", "checksum": "verified"}

``"file": null`` records that no weights were found and every model of that backbone may train
from scratch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from mnpo.io import atomic_path, write_json
from mnpo.models.registry import backbone_entry
from mnpo.models.weights import WeightsError, resolve_imagenet_weights, weight_candidates

log = logging.getLogger(__name__)

STAGED = "staged.json"
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth$")
_CHUNK = 1 << 22


def name_hash_prefix(name: str) -> str | None:
    """The SHA-256 prefix a torchvision-style file name carries (``x-397923af.pth``), or None."""
    match = _HASH_IN_NAME.search(name)
    return match.group(1) if match else None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_status(backbone: str, path: Path, sha256: str) -> str:
    """``verified`` or ``unknown``; raises when the file contradicts a known checksum.

    A file whose name carries a SHA-256 prefix must match it. The file is ``verified`` when its
    digest starts with the prefix of one of the backbone's known files (whatever its own name),
    else ``unknown`` (a user's own weights: loaded, but not vouched for).

    Raises:
        WeightsError: the file's name carries a SHA-256 prefix its content does not have.
    """
    expected = name_hash_prefix(path.name)
    if expected is not None and not sha256.startswith(expected):
        raise WeightsError(
            f"{path}: SHA-256 {sha256[:16]}... does not start with {expected}, the checksum "
            "in its file name (corrupt or truncated download?)"
        )
    known = (name_hash_prefix(n) for n in backbone_entry(backbone).weight_files)
    return "verified" if any(p and sha256.startswith(p) for p in known) else "unknown"


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes a hard link to ``source`` (same file system) or an atomic copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def stage_weights(
    backbone: str,
    configured: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    required: bool,
) -> dict[str, Any]:
    """Resolve, verify and stage the ImageNet weights of ``backbone`` into ``out_dir``.

    Args:
        backbone: registered backbone name.
        configured: the config's weights file or folder (None: package file, then hub cache).
        out_dir: the staging folder; receives the weights file and ``staged.json``.
        required: a model of this backbone may not train from scratch, so a missing file is
            an error (raised here, on the submitting machine, before any job starts).

    Returns:
        The ``staged.json`` record.

    Raises:
        WeightsError: weights required but not found (naming every place searched), a
            configured path that does not exist, or a checksum mismatch.
    """
    out = Path(out_dir)
    path = resolve_imagenet_weights(backbone, configured)
    if path is None:
        searched = ", ".join(str(p) for p in weight_candidates(backbone, configured))
        if required:
            raise WeightsError(
                f"no ImageNet weights for {backbone}: expected one of "
                f"{', '.join(backbone_entry(backbone).weight_files)}; searched {searched}. "
                "Put the file there or configure models.<name>.weights, or set allow_scratch "
                "on every model of this backbone"
            )
        log.warning("no ImageNet weights for %s (searched %s): from scratch", backbone, searched)
        record: dict[str, Any] = {"backbone": backbone, "file": None, "searched": searched}
    else:
        sha256 = file_sha256(path)
        status = checksum_status(backbone, path, sha256)
        out.mkdir(parents=True, exist_ok=True)
        _link_or_copy(path, out / path.name)
        record = {
            "backbone": backbone,
            "file": path.name,
            "source": str(path),
            "sha256": sha256,
            "checksum": status,
        }
        log.info("%s: staged %s (SHA-256 %s, %s)", backbone, path, sha256[:16], status)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / STAGED, record)
    return record


def staged_weights(stage_dir: str | os.PathLike[str]) -> Path | None:
    """The weights file a staging folder holds, or None when it records "from scratch".

    Raises:
        WeightsError: no ``staged.json``, or the file it names is gone.
    """
    folder = Path(stage_dir)
    record_path = folder / STAGED
    if not record_path.is_file():
        raise WeightsError(f"{record_path}: missing; run the stage_weights rule first")
    name = json.loads(record_path.read_text())["file"]
    if name is None:
        return None
    path = folder / name
    if not path.is_file():
        raise WeightsError(f"{path}: named in {record_path} but missing")
    return path
