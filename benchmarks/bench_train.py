"""VGG16-MNPO training throughput: a plain fp32 eager loop against the optimised one, one run.

    .venv/bin/python benchmarks/bench_train.py [--size 224] [--batch 64] [--classes 1000]
        [--steps 20] [--warmup 5] [--repeats 3] [--workers N] [--compile]
        [--precision bf16|fp32] [--device cpu|cuda]

Both loops are the pipeline's own ``mnpo.train.loop.train_one_epoch`` on copies of one randomly
initialised ``vgg16`` / ``mnpo`` model (SGD as configured for training):

- plain: fp32, NCHW, torch's default (for-each) SGD step, no autocast, eager;
- optimised: bf16 autocast, channels_last, fused SGD, and ``torch.compile`` with ``--compile``.

Each runs on one batch that is already on the device (the model's own limit), the two loops
alternating ``--repeats`` times (best rate kept: a busy machine slows both alike). The optimised
loop then runs on the real input path: JPEG files (ILSVRC-like 500x375 at 224) decoded,
resized, randomly cropped and flipped by ``mnpo.train.sampling.train_loader`` with ``--workers``
processes and pinned memory on CUDA. The first ``--warmup`` batches of each pass are not timed.
Prints
ms/step and images/s, the speed-up, how much of the device-tensor rate the DataLoader loop
keeps, and the wall time of the paper's ILSVRC schedule (10 epochs x 1,281,167 training images;
validation not counted) on one device and on eight, assuming linear scaling.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from mnpo.data.images import read_image
from mnpo.data.transforms import train_transform
from mnpo.models import WSOLNet
from mnpo.train.distributed import World
from mnpo.train.loop import train_one_epoch, training_forward
from mnpo.train.optim import Schedule, make_optimizer
from mnpo.train.performance import Performance, configure_backends, loader_workers
from mnpo.train.sampling import train_loader

ILSVRC_TRAIN_IMAGES = 1_281_167
PAPER_EPOCHS = 10
DISTINCT_FILES = 32


class JpegFiles(Dataset):
    """``length`` samples cycling over ``files``: (image (3, S, S) after ``transform``,
    label ``index % classes``, index)."""

    def __init__(self, files: list[Path], length: int, transform: Any, classes: int) -> None:
        self.files, self.length, self.transform, self.classes = files, length, transform, classes

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        image = read_image(self.files[index % len(self.files)])
        return self.transform(image), index % self.classes, index


def write_jpegs(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """``count`` smooth random colour JPEGs (quality 90) of ``width`` x ``height``."""
    files = []
    for i in range(count):
        rng = np.random.default_rng(i)
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.int16)
        noisy = smooth + rng.integers(-12, 13, smooth.shape)
        path = folder / f"{i:03d}.jpg"
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        files.append(path)
    return files


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(slots=True)
class Clock:
    """Start time and images seen from the first timed batch on."""

    start: float = 0.0
    images: int = 0


def _timed_from(
    batches: Iterable[Any], skip: int, device: torch.device, clock: Clock
) -> Iterator[Any]:
    """Yield ``batches``; start ``clock`` when batch ``skip`` is about to be trained on."""
    for i, batch in enumerate(batches):
        if i == skip:
            _sync(device)
            clock.start = time.perf_counter()
        if i >= skip:
            clock.images += len(batch[1])
        yield batch


@dataclass(slots=True)
class Trainer:
    """One model with its training forward pass and optimiser under ``settings``."""

    model: WSOLNet
    forward: torch.nn.Module
    optimizer: torch.optim.Optimizer
    settings: Performance


def make_trainer(model: WSOLNet, settings: Performance, device: torch.device) -> Trainer:
    """``model`` on ``device`` in the memory format of ``settings``, compiled if asked, with
    the training SGD (fused if asked)."""
    model.to(device).to(memory_format=settings.memory_format)
    optimizer = make_optimizer(
        *model.parameter_groups(),
        Schedule(epochs=1, batch_size=1, lr=1e-3),
        from_scratch=True,
        fused=settings.fused(device),
    )
    return Trainer(model, training_forward(model, device, settings, World()), optimizer, settings)


def images_per_second(
    trainer: Trainer, batches: Iterable[Any], device: torch.device, skip: int
) -> float:
    """Train over ``batches`` (images (B, 3, S, S), labels (B,), indices (B,)); the rate from
    batch ``skip`` on (the batches before warm up compilation, cuDNN and the loader)."""
    clock = Clock()
    train_one_epoch(
        trainer.model,
        _timed_from(batches, skip, device, clock),
        trainer.optimizer,
        device,
        "bench",
        settings=trainer.settings,
        world=World(),
        forward=trainer.forward,
    )
    _sync(device)
    return clock.images / (time.perf_counter() - clock.start)


def device_batches(
    batch: int, size: int, classes: int, device: torch.device, fmt: torch.memory_format, n: int
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """``n`` references to one random batch already on ``device`` in memory format ``fmt``."""
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    labels = torch.randint(0, classes, (batch,), device=device)
    return [(images, labels, torch.arange(batch))] * n


def schedule_hours(images_per_second: float) -> float:
    """Hours for the paper's ILSVRC training (10 epochs of 1,281,167 images) at this rate."""
    return PAPER_EPOCHS * ILSVRC_TRAIN_IMAGES / images_per_second / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per pass")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before")
    parser.add_argument("--repeats", type=int, default=3, help="passes per loop (best kept)")
    parser.add_argument("--workers", type=int, help="loader workers (default: CPUs - 1 on CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the optimised loop")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"vgg16-mnpo training, batch {args.batch} x {args.size}^2, {args.classes} classes, "
        f"{name} ({torch.get_num_threads()} threads), torch {torch.__version__}"
    )
    plain = Performance(precision="fp32", channels_last=False, fused_optimizer=False)
    fast = Performance(precision=args.precision, fused_optimizer=True, compile=args.compile)
    configure_backends(fast, device)
    torch.manual_seed(0)
    model = WSOLNet("vgg16", args.classes, "mnpo")
    trainers = {
        "plain": make_trainer(copy.deepcopy(model), plain, device),
        "optimised": make_trainer(model, fast, device),
    }
    total = args.warmup + args.steps
    rates = {label: 0.0 for label in trainers}
    for _ in range(args.repeats):
        for label, trainer in trainers.items():
            fmt = trainer.settings.memory_format
            batches = device_batches(args.batch, args.size, args.classes, device, fmt, total)
            rates[label] = max(
                rates[label], images_per_second(trainer, batches, device, args.warmup)
            )
    for label, trainer in trainers.items():
        how = trainer.settings.describe(device, 1).split(", ", 1)[1]
        print(
            f"{label} ({how}), device tensors: {args.batch / rates[label] * 1e3:.1f} ms/step, "
            f"{rates[label]:.1f} img/s"
        )
    print(f"speed-up optimised / plain: {rates['optimised'] / rates['plain']:.2f}x")
    workers = loader_workers(args.workers, device, os.cpu_count() or 1, 1)
    width, height = round(500 * args.size / 224), round(375 * args.size / 224)
    transform = train_transform(args.size, round(args.size * 256 / 224))
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        files = write_jpegs(Path(tmp), min(DISTINCT_FILES, total * args.batch), width, height)
        data = JpegFiles(files, total * args.batch, transform, args.classes)
        loader = train_loader(
            data, args.batch, seed=0, workers=workers, pin_memory=device.type == "cuda"
        )
        rates["loader"] = max(
            images_per_second(trainers["optimised"], loader, device, args.warmup)
            for _ in range(args.repeats)
        )
    print(
        f"optimised + DataLoader ({workers} workers, {width}x{height} JPEG decode + "
        f"augmentation): {args.batch / rates['loader'] * 1e3:.1f} ms/step, "
        f"{rates['loader']:.1f} img/s = {100 * rates['loader'] / rates['optimised']:.0f}% of "
        "the device-tensor rate"
    )
    print(
        f"ILSVRC schedule, {PAPER_EPOCHS} epochs x {ILSVRC_TRAIN_IMAGES:,} images (training only):"
    )
    for devices, note in ((1, ""), (8, ", linear scaling assumed")):
        hours = {k: schedule_hours(devices * rate) for k, rate in rates.items()}
        print(
            f"  {devices} x {name}{note}: plain {hours['plain']:.1f} h, optimised "
            f"{hours['optimised']:.1f} h, optimised + DataLoader {hours['loader']:.1f} h"
        )


if __name__ == "__main__":
    main()
