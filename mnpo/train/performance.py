"""Speed settings of training (config ``performance``): how a job uses the hardware.

None of them changes what is trained, only how fast and with which float rounding:

- ``precision``: ``auto`` = bf16 autocast on CUDA, plain fp32 on the CPU; ``bf16`` = bf16
  autocast on any device; ``fp32`` = no autocast. Autocast runs convolutions and matrix products
  in bf16 and keeps the weights, the optimiser state and the losses in fp32.
- ``channels_last``: images, activations and convolution weights in NHWC memory order (faster
  convolutions on recent GPUs and with oneDNN on the CPU).
- ``fused_optimizer``: the single-kernel SGD step (``torch.optim.SGD(fused=True)``); ``auto``
  = on CUDA only, so CPU runs keep the default implementation (and their exact numbers).
- ``compile``: ``torch.compile`` the training forward pass (validation stays eager).
- ``pin_memory``: page-locked host batches, copied to the GPU asynchronously (CUDA only).
- ``cudnn_benchmark``: cuDNN times its convolution algorithms once per shape (CUDA only).
- ``gpus``: processes (one per GPU) of a training job, see ``mnpo.train.distributed``; 0 is
  one process like 1 (it only makes the rules ask for no GPU, ``mnpo.grid.job_gpus``);
  ``sync_batchnorm``: BatchNorm statistics over the global batch in that case (CUDA only: torch
  has no CPU SyncBatchNorm).

Loader workers come from the schedule's ``workers`` (``None`` = from the job's threads, see
:func:`loader_workers`).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

from mnpo.configs import checked_keys

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True, slots=True)
class Performance:
    """The config's ``performance`` mapping (defaults = the schema's)."""

    gpus: int = 1
    precision: str = "auto"
    channels_last: bool = True
    fused_optimizer: bool | str = "auto"
    compile: bool = False
    pin_memory: bool = True
    cudnn_benchmark: bool = True
    sync_batchnorm: bool = True

    def __post_init__(self) -> None:
        if self.gpus < 0:
            raise ValueError(f"performance.gpus must be >= 0, got {self.gpus}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"performance.precision must be one of {PRECISIONS}")
        if self.fused_optimizer not in ("auto", True, False):
            raise ValueError("performance.fused_optimizer must be auto, true or false")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Performance:
        """Build from a config mapping (None = all defaults); unknown keys are an error."""
        return cls(**checked_keys(cls, dict(values or {}), "performance"))

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """bf16 when autocast is on for ``device``, else None (fp32)."""
        wanted = self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda")
        return torch.bfloat16 if wanted else None

    def fused(self, device: torch.device) -> bool:
        """Whether to ask for the fused SGD kernel on ``device``."""
        if self.fused_optimizer == "auto":
            return device.type == "cuda"
        return bool(self.fused_optimizer)

    @property
    def memory_format(self) -> torch.memory_format:
        """``torch.channels_last`` or ``torch.contiguous_format`` (NCHW)."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self, device: torch.device, world_size: int) -> str:
        """One line for logs and checkpoint provenance, e.g. ``cuda x2, bf16, channels_last``."""
        dtype = self.autocast_dtype(device)
        parts = [
            f"{device.type} x{world_size}",
            "bf16 autocast" if dtype is not None else "fp32",
            "channels_last" if self.channels_last else "NCHW",
            "fused SGD" if self.fused(device) else "SGD",
        ]
        if self.compile:
            parts.append("torch.compile")
        return ", ".join(parts)


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """``torch.autocast`` to ``dtype`` on ``device``; a no-op context when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def configure_backends(settings: Performance, device: torch.device) -> None:
    """Process-wide switches: cuDNN autotuning on CUDA (nothing to set on the CPU)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = settings.cudnn_benchmark


def loader_workers(configured: int | None, device: torch.device, threads: int, ranks: int) -> int:
    """DataLoader worker processes of one training process.

    ``configured`` (the schedule's ``workers``) wins when set. Otherwise: 0 on the CPU (the
    cores are better spent on the model, and loading stays in the training process), and on CUDA
    the job's ``threads`` shared by its ``ranks`` processes, minus one for each training
    process itself (at least 1). The number of workers does not change the numbers
    (``mnpo.train.sampling``).
    """
    if configured is not None:
        return int(configured)
    if device.type != "cuda":
        return 0
    return max(1, threads // ranks - 1)
