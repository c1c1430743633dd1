"""The WSOL network: backbone stages + (GAP, FC) head, returning named outputs."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor, nn

from mnpo.models.backbones import BACKBONES, run_stages
from mnpo.models.weights import WeightsError, load_mapped_state, resolve_imagenet_weights

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ModelOutput:
    """logits (B, K) = FC(GAP(features)); features (B, C, h, w); taps: stage name -> map."""

    logits: Tensor
    features: Tensor
    taps: dict[str, Tensor] = field(default_factory=dict)


class WSOLNet(nn.Module):
    """Backbone + GAP + FC (the CAM architecture); ``fc.weight`` (K, C) gives the CAM."""

    def __init__(self, backbone: str, num_classes: int) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; known: {sorted(BACKBONES)}")
        built = BACKBONES[backbone]()
        self.backbone_name = backbone
        self.num_classes = num_classes
        self.feature_channels = built.channels
        self.stages = built.stages
        self.fc = nn.Linear(built.channels, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)
        self._spec = built

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(self.stages.keys())

    def forward(self, images: Tensor, taps: Sequence[str] = ()) -> ModelOutput:
        unknown = sorted(set(taps) - set(self.stage_names))
        if unknown:
            raise ValueError(f"unknown taps {unknown}; stages: {list(self.stage_names)}")
        features, tapped = run_stages(self.stages, images, set(taps))
        logits = self.fc(features.mean((2, 3)))
        return ModelOutput(logits, features, tapped)

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(pretrained backbone parameters, newly added parameters: conv6 and the FC)."""
        new_stages = set(self._spec.new_stages)
        pretrained, new = [], []
        for name, stage in self.stages.items():
            (new if name in new_stages else pretrained).extend(stage.parameters())
        new.extend(self.fc.parameters())
        return pretrained, new

    def load_imagenet(self, path: Path) -> None:
        """Strictly load the backbone's ImageNet weights (new stages excluded)."""
        pretrained = nn.ModuleDict(
            {k: v for k, v in self.stages.items() if k not in self._spec.new_stages}
        )
        load_mapped_state(pretrained, path, self._spec.imagenet_mapping, self._spec.dropped)


def backbone_names() -> tuple[str, ...]:
    return tuple(BACKBONES)


def imagenet_weights(backbone: str, configured: str | os.PathLike | None) -> Path | None:
    """Where the ImageNet weights of ``backbone`` are (None when not found)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; known: {sorted(BACKBONES)}")
    default = {"vgg16": "vgg16-397923af.pth", "resnet50": "resnet50-0676ba61.pth"}
    return resolve_imagenet_weights(backbone, default.get(backbone, ""), configured)


def build_model(
    backbone: str,
    num_classes: int,
    *,
    weights: str | os.PathLike | None = None,
    allow_scratch: bool = False,
) -> WSOLNet:
    """The network with ImageNet weights from ``weights`` (or the default places).

    Raises:
        WeightsError: no weights found and ``allow_scratch`` is false (the message names the
            expected file), or a file whose keys do not match.
    """
    model = WSOLNet(backbone, num_classes)
    path = imagenet_weights(backbone, weights)
    if path is None:
        if not allow_scratch:
            raise WeightsError(
                f"no ImageNet weights for {backbone}: expected {model._spec.reference_file} in "
                "the configured `weights` path or the torch hub cache "
                "($TORCH_HOME/hub/checkpoints); set `allow_scratch: true` to train from scratch"
            )
        log.warning("no ImageNet weights for %s: training from scratch (He init)", backbone)
        return model
    model.load_imagenet(path)
    log.info("loaded ImageNet weights for %s from %s", backbone, path)
    return model
