"""Multi-GPU training: one process per GPU under ``torchrun``, DistributedDataParallel (DDP).

A training job with ``performance.gpus`` N > 1 (the rule then asks Snakemake for ``gpu=N``)
starts ``torchrun --standalone --nproc_per_node N -m mnpo.train JOB.json`` (:func:`launch`) and
relays its output to its own log; each of the N processes runs ``steps.train_model`` as rank r:

- process group: NCCL on CUDA (rank r on GPU ``LOCAL_RANK``), gloo on the CPU;
- the model is wrapped in DDP (gradients averaged over the processes in every backward); on
  CUDA its BatchNorm layers become SyncBatchNorm (``performance.sync_batchnorm``), so they
  normalise with the statistics of the global batch, as a single process does;
- each process loads batch / N images of every global batch (``mnpo.train.sampling``): global
  batch, order and augmentation are those of a one-process run with the same seed;
- rank 0 alone validates and writes ``history.csv`` and the checkpoints while the others wait;
  every rank resumes from the same ``resume.pt`` (written by a run of any process count).

On the CPU torch has no SyncBatchNorm: BatchNorm layers then use per-process statistics, so a
BatchNorm model's numbers differ from a one-process run's (BatchNorm-free models such as VGG16
with the ``cam`` head agree to float rounding; ``tests/test_ddp.py``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger(__name__)

TIMEOUT = timedelta(hours=2)
"""How long ranks wait for each other: the others idle while rank 0 validates (ILSVRC: 50,000
images plus the localisation meter)."""


@dataclass(frozen=True, slots=True)
class World:
    """This process's place among the training processes (``torchrun``'s variables)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: validates, logs and writes the outputs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1


def world_from_env(env: Mapping[str, str] = os.environ) -> World:
    """The ``World`` set by ``torchrun`` (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``); one
    process when they are absent."""
    return World(
        rank=int(env.get("RANK", 0)),
        local_rank=int(env.get("LOCAL_RANK", 0)),
        size=int(env.get("WORLD_SIZE", 1)),
    )


def join(world: World) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on the CPU); returns this process's device."""
    if torch.cuda.is_available():
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=TIMEOUT, device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo", timeout=TIMEOUT)
    log.info("rank %d of %d on %s (%s)", world.rank, world.size, device, dist.get_backend())
    return device


def leave() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    """Wait for every process (no-op for a single process)."""
    if world.distributed:
        dist.barrier()


def sum_over_ranks(values: Tensor, world: World) -> Tensor:
    """Element-wise sum of ``values`` (any shape, same on every rank) over all processes."""
    if world.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def distribute(model: nn.Module, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """Wrap ``model`` (already on ``device``) in DDP; returns the wrapper, whose forward trains.

    With ``sync_batchnorm`` on CUDA the model's BatchNorm layers are replaced in place by
    SyncBatchNorm (same parameters and buffers, so the same state dict); on the CPU this is not
    possible and is logged. Build the optimiser after this call.
    """
    has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if sync_batchnorm and has_batchnorm:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            log.warning("no SyncBatchNorm on %s: BatchNorm uses per-process statistics", device)
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def torchrun_command(job: Path, processes: int) -> list[str]:
    """``python -m torch.distributed.run`` (torchrun) running ``python -m mnpo.train job`` in
    ``processes`` local processes, on a free port (``--standalone``)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "mnpo.train",
        str(job),
    ]


def launch(job: Mapping[str, Any], processes: int, threads: int) -> None:
    """Run ``steps.train_model(**job)`` in ``processes`` processes under torchrun and wait.

    ``job`` must be JSON-serialisable; ``threads`` (the job's CPU threads) are shared by the
    processes. The workers' output goes to this process's log, line by line.

    Raises:
        RuntimeError: fewer CUDA devices than ``processes``, or a failed worker.
    """
    if torch.cuda.is_available() and torch.cuda.device_count() < processes:
        raise RuntimeError(
            f"performance.gpus is {processes} but only {torch.cuda.device_count()} GPUs are visible"
        )
    if not torch.cuda.is_available():
        log.warning("no CUDA: %d CPU processes (gloo)", processes)
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(max(1, threads // processes)),
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),  # this mnpo, installed or not
    }
    with tempfile.TemporaryDirectory(prefix="mnpo-ddp-") as tmp:
        job_file = Path(tmp) / "job.json"
        job_file.write_text(json.dumps(job, default=str))  # paths as strings
        command = torchrun_command(job_file, processes)
        log.info("launching %s", " ".join(command))
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.info("%s", line.rstrip())
    if proc.returncode:
        raise RuntimeError(f"distributed training failed (torchrun exit code {proc.returncode})")
