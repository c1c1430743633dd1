"""The training loop: seeded, resumable, validated on ``val`` after every epoch.

Per epoch ``e`` (1-based): set the decayed learning rate, train one pass over ``train`` with
loss ``CE(z, y)`` (the model's ``loss`` when it defines one, e.g. a multi-branch head), then
evaluate on ``val``: loss, top-1 accuracy and GT-known localisation (MaxBoxAcc at IoU 50, largest
contour, plain CAM, thresholds at 0.01 — the localisation meter of wsolevaluation). The history
row is appended to ``history.csv``. ``resume.pt`` (last epoch + optimiser) and ``resume-best.pt``
(the epoch with the best meter so far; ties keep the earlier epoch) are rewritten every epoch and
become ``last.pt`` / ``best.pt`` when training ends; they are not Snakemake outputs, so a killed
or failed job loses nothing. Checkpoint selection only ever sees ``val``.

Determinism: every epoch reseeds torch and NumPy from ``(seed, epoch, rank)`` and draws the
order and augmentation from ``(seed, epoch)`` and each image's index (``mnpo.train.sampling``),
so a run resumed from ``resume.pt`` after a kill yields the same numbers as an uninterrupted one,
for any number of loader workers (exactly on the CPU with default ``performance``).

Speed (``mnpo.train.performance``): bf16 autocast, channels-last memory format, fused SGD and
``torch.compile`` as configured; with several processes (``mnpo.train.distributed``) the model
is trained under DDP and rank 0 alone validates and writes. Per-step loss and accuracy are summed
on the device and read once per epoch (no host synchronisation per step).
"""

from __future__ import annotations

import csv
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm import tqdm

from mnpo.cams.cam import class_activation_maps
from mnpo.io import atomic_open
from mnpo.train.checkpoint import load_checkpoint, provenance, save_checkpoint
from mnpo.train.distributed import World, barrier, distribute, sum_over_ranks
from mnpo.train.optim import Schedule, load_optimizer_state, make_optimizer, set_epoch_lr
from mnpo.train.performance import Performance, autocast, configure_backends

log = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_gt_known_loc",
    "seconds",
)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A distinct, reproducible seed for each (run seed, epoch, process rank).

    Distinct for epochs < 1009 and ranks < 100003 (both primes).
    """
    return seed * 100_003 + epoch + rank * 1_009


def pick_device() -> torch.device:
    """The current CUDA device when present (a DDP process's own GPU), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@dataclass(frozen=True, slots=True)
class EpochResult:
    """One row of ``history.csv``."""

    epoch: int
    lr: float
    train_loss: float
    train_top1: float
    val_loss: float
    val_top1: float
    val_gt_known_loc: float
    seconds: float


LoaderFactory = Callable[[int], Any]
"""``epoch_seed -> DataLoader`` over this process's share of the training split (a new shuffled
order per epoch, ``mnpo.train.sampling.train_loader``)."""

LocalizationMeter = Callable[[list[str], np.ndarray], float]
"""``(image ids, maps (N, h, w)) -> GT-known MaxBoxAcc (%)`` on the validation split."""


def _batches(
    loader: Any,
    device: torch.device,
    desc: str,
    memory_format: torch.memory_format = torch.channels_last,
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    for images, labels, index in tqdm(loader, desc=desc, leave=False, disable=None):
        yield (
            images.to(device, non_blocking=True).contiguous(memory_format=memory_format),
            labels.to(device, non_blocking=True),
            index,
        )


def train_one_epoch(
    model: nn.Module,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    desc: str,
    *,
    settings: Performance,
    world: World,
    forward: nn.Module | None = None,
) -> tuple[float, float]:
    """One pass over ``loader`` (batches of images (b, 3, H, W), labels (b,), indices (b,))
    with the model's own loss (``WSOLNet.loss``); returns (mean loss, top-1 accuracy %) over
    every process's images.

    ``forward`` runs the model (a DDP or compiled wrapper of ``model``; default ``model``).
    """
    run = forward or model
    run.train()
    dtype = settings.autocast_dtype(device)
    # float64 sums on the device: read once per epoch, the same numbers as Python floats
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss * b, correct, b
    for images, labels, _ in _batches(loader, device, desc, settings.memory_format):
        with autocast(device, dtype):
            output = run(images)
            loss = model.loss(output, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sums[0] += loss.detach().double() * labels.numel()
        sums[1] += (output.logits.detach().argmax(1) == labels).sum()
        sums[2] += labels.numel()
    total_loss, correct, seen = sum_over_ranks(sums, world).tolist()
    return total_loss / max(seen, 1), 100.0 * correct / max(seen, 1)


@torch.inference_mode()
def validate(
    model: nn.Module,
    loader: Any,
    image_ids: list[str],
    device: torch.device,
    desc: str,
    memory_format: torch.memory_format = torch.channels_last,
) -> tuple[float, float, list[str], np.ndarray]:
    """Loss CE(z1), top-1 % and plain-CAM maps of the GT class on ``loader`` (main branch
    only: an MNPO branch is not run).

    Returns:
        (mean loss, top-1 %, ids in map order, maps (N, h, w) float32).
    """
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    ids: list[str] = []
    maps: list[np.ndarray] = []
    for images, labels, index in _batches(loader, device, desc, memory_format):
        output = model(images, branch=False)
        total_loss += float(F.cross_entropy(output.logits.float(), labels, reduction="sum"))
        correct += int((output.logits.argmax(1) == labels).sum())
        seen += labels.numel()
        maps.append(class_activation_maps(output.features, model.fc.weight, labels).cpu().numpy())
        ids.extend(image_ids[i] for i in index.tolist())
    return total_loss / max(seen, 1), 100.0 * correct / max(seen, 1), ids, np.concatenate(maps)


def write_history(path: Path, rows: list[EpochResult]) -> None:
    """Write all rows to ``path`` atomically (CSV, fixed column order)."""
    with atomic_open(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


@dataclass(frozen=True, slots=True)
class TrainingOutputs:
    """Where a training run writes."""

    best: Path
    last: Path
    history: Path

    @property
    def resume(self) -> Path:
        """Last state + optimiser + history; not a pipeline output, so a failed job keeps it."""
        return self.last.with_name("resume.pt")

    @property
    def resume_best(self) -> Path:
        """The best epoch so far, kept beside ``resume.pt`` until training has finished."""
        return self.last.with_name("resume-best.pt")


def training_forward(
    model: nn.Module, device: torch.device, settings: Performance, world: World
) -> nn.Module:
    """What runs the training forward pass of ``model`` (already on ``device``): the model, its
    DDP wrapper when there are several processes (SyncBatchNorm replaces its BatchNorm layers in
    place, see ``distribute``), compiled when ``settings.compile``."""
    forward = distribute(model, device, settings.sync_batchnorm) if world.distributed else model
    return torch.compile(forward) if settings.compile else forward


def fit(
    model: nn.Module,
    *,
    schedule: Schedule,
    seed: int,
    from_scratch: bool,
    train_loader: LoaderFactory,
    val_loader: Any,
    val_ids: list[str],
    localization: LocalizationMeter,
    outputs: TrainingOutputs,
    model_config: dict[str, Any],
    device: torch.device,
    settings: Performance,
    world: World,
) -> list[EpochResult]:
    """Train ``model`` for ``schedule.epochs`` epochs, resuming from ``resume.pt`` if present.

    ``model_config`` is stored in every checkpoint and must match the resume file's; a resume
    file of another configuration is an error (delete it to start over). ``train_loader``
    yields this process's share of each batch. Every process of ``world`` calls ``fit``; rank 0
    validates, writes the outputs and returns the history (the other ranks return ``[]``).
    """
    configure_backends(settings, device)
    model.to(device).to(memory_format=settings.memory_format)
    forward = training_forward(model, device, settings, world)
    pretrained, new = model.parameter_groups()
    optimizer = make_optimizer(
        pretrained, new, schedule, from_scratch=from_scratch, fused=settings.fused(device)
    )
    history: list[EpochResult] = []
    best_meter = -1.0
    start = 1
    if outputs.resume.exists():
        state = load_checkpoint(outputs.resume)
        if state["model"] != model_config or state["seed"] != seed:
            raise RuntimeError(
                f"{outputs.resume}: left by a run of another configuration; delete it to restart"
            )
        model.load_state_dict(state["state_dict"])
        load_optimizer_state(optimizer, state["optimizer"])
        history = [EpochResult(**row) for row in state["history"]]
        best_meter = float(state["best_meter"])
        start = int(state["epoch"]) + 1
        log.info("resuming from %s after epoch %d", outputs.resume, start - 1)
    training = settings.describe(device, world.size)
    log.info("training on %s", training)
    for epoch in range(start, schedule.epochs + 1):
        tic = time.perf_counter()
        seed_everything(epoch_seed(seed, epoch, world.rank))
        lr = set_epoch_lr(optimizer, epoch, schedule)
        desc = f"epoch {epoch}/{schedule.epochs}"
        train_loss, train_top1 = train_one_epoch(
            model,
            train_loader(epoch_seed(seed, epoch)),
            optimizer,
            device,
            desc,
            settings=settings,
            forward=forward,
            world=world,
        )
        if world.is_main:
            val_loss, val_top1, ids, maps = validate(
                model, val_loader, val_ids, device, "val", settings.memory_format
            )
            meter = localization(ids, maps)
            row = EpochResult(
                epoch,
                lr,
                train_loss,
                train_top1,
                val_loss,
                val_top1,
                meter,
                time.perf_counter() - tic,
            )
            history.append(row)
            log.info(
                "epoch %d lr %.2e train loss %.4f top1 %.1f | val loss %.4f top1 %.1f "
                "gt-known loc %.1f | %.1fs",
                *(getattr(row, c) for c in HISTORY_COLUMNS),
            )
            payload = {
                "model": model_config,
                "state_dict": model.state_dict(),
                "epoch": epoch,
                "seed": seed,
                "val": asdict(row),
                "provenance": provenance(device.type, training=training),
            }
            if meter > best_meter:
                best_meter = meter
                save_checkpoint(outputs.resume_best, payload)
            write_history(outputs.history, history)
            save_checkpoint(
                outputs.resume,
                {
                    **payload,
                    "optimizer": optimizer.state_dict(),
                    "history": [asdict(r) for r in history],
                    "best_meter": best_meter,
                },
            )
        barrier(world)
    if not world.is_main:
        return []
    final = load_checkpoint(outputs.resume)
    save_checkpoint(outputs.last, {k: final[k] for k in payload_keys()})
    write_history(outputs.history, history)
    os.replace(outputs.resume_best, outputs.best)
    outputs.resume.unlink()
    return history


def payload_keys() -> tuple[str, ...]:
    """Keys of a model checkpoint (``best.pt`` / ``last.pt``)."""
    return ("model", "state_dict", "epoch", "seed", "val", "provenance")
