"""Checkpoints: dicts of plain types, written atomically, loaded with ``weights_only=True``.

``best.pt`` / ``last.pt`` hold ``format_version``, ``model`` (the model config: backbone, head,
number of classes), ``state_dict``, ``epoch``, ``seed``, ``val`` (metrics of that epoch) and
``provenance`` (mnpo/torch versions, git revision, device). ``resume.pt`` additionally holds the
optimiser state and the history so far; it is not a pipeline output and is removed once training
has finished.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import mnpo
from mnpo.io import atomic_path

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not match what the caller expects."""


def provenance(device: str, **details: str) -> dict[str, str]:
    """Versions and environment stored in every checkpoint (no timestamps: outputs stay stable),
    plus ``details`` (e.g. ``training``: processes, precision and memory format)."""
    return {
        "mnpo": mnpo.__version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "device": device,
        "git": _git_revision(),
        **details,
    }


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename (atomic)."""
    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (CPU tensors, no pickle code)."""
    target = Path(path)
    if not target.is_file():
        raise CheckpointError(f"{target}: checkpoint not found")
    try:
        payload = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{target}: not a readable mnpo checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{target}: not an mnpo checkpoint of format version {FORMAT_VERSION}"
        )
    return payload
