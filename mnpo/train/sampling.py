"""The training loader: order and augmentation fixed by (epoch seed, image index) alone.

The epoch's order is ``torch.randperm(N)`` drawn from the epoch seed (torch's
``DistributedSampler``); with R processes, rank r takes positions r, r + R, r + 2R, ... of it
in batches of ``batch_size / R``, so step k of every rank together covers exactly the images of
step k of a single process. Each image's random crop and flip are drawn from torch's RNG seeded
by (epoch seed, image index), in whichever process or loader worker decodes it. Hence the number
of processes and of loader workers changes no input of any step; only float rounding differs
(and, without SyncBatchNorm, BatchNorm statistics, which are then per process).

Transforms must draw their randomness from torch's RNG (torchvision's do).
When N is not a multiple of R, the sampler repeats the first images of the order to even out
the processes (an epoch then sees up to R - 1 images twice).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mnpo.data.datasets import seed_worker


def sample_seed(seed: int, index: int) -> int:
    """A 64-bit seed for image ``index`` in the epoch of ``seed`` (a hash of both)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


class SeededSamples(Dataset):
    """``dataset[i]`` computed with torch's RNG seeded by ``sample_seed(seed, i)``.

    The caller's RNG state is restored afterwards, so other random draws of the process are
    unaffected.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, index))
            return self.dataset[index]


def per_rank_batch(batch_size: int, ranks: int) -> int:
    """The batch of one of ``ranks`` processes, so that together they make ``batch_size``.

    Raises:
        ValueError: ``batch_size`` not a multiple of ``ranks``.
    """
    if batch_size % ranks:
        raise ValueError(
            f"batch size {batch_size} cannot be split over {ranks} processes; "
            "use a multiple of performance.gpus"
        )
    return batch_size // ranks


def train_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    rank: int = 0,
    ranks: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """One epoch of ``dataset`` for process ``rank`` of ``ranks`` (global batch ``batch_size``).

    Yields what ``dataset`` yields, collated: for ``WSOLDataset`` (images (b, 3, H, W), labels
    (b,), indices (b,)) with b = batch_size / ranks (the last batch may be smaller).
    """
    sampler = DistributedSampler(
        dataset, num_replicas=ranks, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    return DataLoader(
        SeededSamples(dataset, seed),
        batch_size=per_rank_batch(batch_size, ranks),
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),  # workers' base seed; not the global RNG
        persistent_workers=False,
    )
