"""The dataset manifest ``results/data/{dataset}/dataset.json``: what downstream rules read.

It names the dataset's kind, class count and names, where its images and masks are (the
generated folder for ``synthetic``, the user's folder for real datasets) and the metadata folder
of each split. Paths are stored as given (relative to the working directory or absolute).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mnpo.data.metadata import Metadata, read_metadata
from mnpo.io import write_json


@dataclass(frozen=True, slots=True)
class DatasetManifest:
    name: str
    kind: str
    num_classes: int
    image_root: str
    metadata: dict[str, str]
    mask_root: str | None = None
    class_names: list[str] = field(default_factory=list)

    def split(self, split: str) -> Metadata:
        """Read and validate the metadata of ``split`` (labels checked against ``num_classes``)."""
        if split not in self.metadata:
            raise KeyError(f"dataset {self.name!r} has no split {split!r}: {sorted(self.metadata)}")
        return read_metadata(self.metadata[split], num_classes=self.num_classes)


def write_manifest(path: str | os.PathLike, manifest: DatasetManifest) -> None:
    """Write the manifest as sorted, indented JSON, atomically."""
    write_json(path, asdict(manifest))


def read_manifest(path: str | os.PathLike) -> DatasetManifest:
    """Read a manifest written by :func:`write_manifest`."""
    target = Path(path)
    try:
        data = json.loads(target.read_text())
        return DatasetManifest(**data)
    except (OSError, json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"{target}: not a dataset manifest ({err})") from err
