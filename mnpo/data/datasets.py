"""A torch dataset over one metadata split, and seeded loaders."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mnpo.data.images import ImageError, read_image
from mnpo.data.metadata import Metadata


class WSOLDataset(Dataset):
    """``(image tensor, label, index)`` per image id, in metadata order.

    ``index`` points into ``metadata.image_ids`` so callers recover the id of each sample.
    """

    def __init__(self, metadata: Metadata, image_root: Path, transform: Callable[[Any], Any]):
        self.metadata = metadata
        self.image_root = Path(image_root)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.metadata.image_ids)

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        image_id = self.metadata.image_ids[index]
        try:
            image = read_image(self.image_root / image_id)
        except ImageError as err:
            raise ImageError(f"{err} (image id {image_id!r})") from err
        return self.transform(image), self.metadata.class_labels[image_id], index


def check_images(metadata: Metadata, image_root: Path) -> None:
    """Every image id has a file under ``image_root`` (existence only, no decoding).

    Raises:
        ImageError: naming the first missing id and how many are missing.
    """
    missing = [i for i in metadata.image_ids if not (Path(image_root) / i).is_file()]
    if missing:
        raise ImageError(
            f"{Path(image_root) / missing[0]}: image file not found for image id "
            f"{missing[0]!r} ({len(missing)} of {len(metadata.image_ids)} images missing)"
        )


def seed_worker(worker_id: int) -> None:
    """Seed NumPy and ``random`` in a loader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader whose order and augmentation are fixed by ``seed`` (for a fixed ``workers``)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=False,
    )
