"""The CAM network: backbone stages, then GAP and a fully connected classifier.

For an image batch x of shape (B, 3, H, W) the backbone gives ``features`` F of shape
(B, C, h, w) (post-activation, h = H/16 and w = W/16 for square inputs that are multiples of 32),
and the logits are z = FC(GAP(F)) = W_fc · mean_{i,j} F[:, :, i, j] + b_fc with ``fc.weight``
W_fc of shape (K, C): the class weights used by CAM.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from mnpo.models.backbones import he_init
from mnpo.models.registry import backbone_entry
from mnpo.models.weights import (
    WeightsError,
    load_imagenet_weights,
    resolve_imagenet_weights,
    weight_candidates,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ModelOutput:
    """What the network computes for a batch.

    Attributes:
        logits: (B, K) main-branch logits z1 = FC(GAP(features)).
        features: (B, C, h, w) the map fed to GAP + FC (post-activation), C = fc.in_features.
        taps: stage name -> (B, C_s, h_s, w_s) output of that stage, for the requested stages
            only; these are the tensors of the forward graph (gradients can be taken w.r.t. them).
    """

    logits: Tensor
    features: Tensor
    taps: dict[str, Tensor] = field(default_factory=dict)


class WSOLNet(nn.Module):
    """Backbone + GAP + FC (the CAM architecture), randomly initialised as METHOD.md §1.4.

    Attributes:
        backbone_name: registry name of the backbone.
        num_classes: K.
        feature_channels: C.
        backbone: stage name -> module, run in order.
        fc: Linear C -> K; ``fc.weight`` (K, C) gives the CAM.
        stage_names: the tappable stages, in forward order.
        new_stages: stages without ImageNet counterpart (trained like the FC).
        imagenet_mapping: our backbone key -> key in the ImageNet weights file.
        dropped_keys: keys of the ImageNet file deliberately not loaded.
    """

    def __init__(self, backbone_name: str, num_classes: int) -> None:
        """Build ``backbone_name`` with a K-way FC; He init everywhere (no weights loaded).

        Raises:
            ValueError: unknown backbone or num_classes < 1.
        """
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        built = backbone_entry(backbone_name).build()
        self.backbone_name = backbone_name
        self.num_classes = num_classes
        self.feature_channels = built.channels
        self.backbone = built.stages
        self.fc = nn.Linear(built.channels, num_classes)
        self.stage_names: tuple[str, ...] = tuple(built.stages.keys())
        self.new_stages = built.new_stages
        self.imagenet_mapping = built.imagenet_mapping
        self.dropped_keys = built.dropped_keys
        he_init(self)

    def forward(self, images: Tensor, taps: Sequence[str] = ()) -> ModelOutput:
        """Logits, features and the requested stage outputs for ``images``.

        Args:
            images: (B, 3, H, W) normalised images (any memory format).
            taps: names of stages whose outputs to return (see ``stage_names``).

        Returns:
            ``ModelOutput`` with logits (B, K), features (B, C, h, w) and ``taps``.

        Raises:
            ValueError: ``images`` not (B, 3, H, W), or an unknown tap name.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        wanted = set(taps)
        unknown = sorted(wanted - set(self.stage_names))
        if unknown:
            raise ValueError(
                f"unknown taps {unknown} for {self.backbone_name}; "
                f"valid: {', '.join(self.stage_names)}"
            )
        tapped: dict[str, Tensor] = {}
        x = images
        for name, stage in self.backbone.items():
            x = stage(x)
            if name in wanted:
                tapped[name] = x
        return ModelOutput(self.fc(x.mean(dim=(2, 3))), x, tapped)

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(pretrained backbone parameters, newly added parameters: new stages and the FC).

        The split is the same whether or not ImageNet weights were loaded.
        """
        pretrained: list[nn.Parameter] = []
        new: list[nn.Parameter] = []
        for name, stage in self.backbone.items():
            (new if name in self.new_stages else pretrained).extend(stage.parameters())
        new.extend(self.fc.parameters())
        return pretrained, new


def build_model(
    backbone: str,
    num_classes: int,
    *,
    weights: str | os.PathLike[str] | None = None,
    allow_scratch: bool = False,
) -> WSOLNet:
    """The network with ImageNet weights in its pretrained stages.

    Args:
        backbone: registry name (``backbone_names()``).
        num_classes: K.
        weights: ImageNet weights file or folder; None looks in the default places
            (``mnpo.models.weights``).
        allow_scratch: when no weights are found, train from scratch (He init) instead of
            failing.

    Raises:
        ValueError: unknown backbone.
        WeightsError: no weights found and ``allow_scratch`` is false (the message names the
            expected file names and the places searched), or a file that does not match.
    """
    model = WSOLNet(backbone, num_classes)
    path = resolve_imagenet_weights(backbone, weights)
    if path is not None:
        load_imagenet_weights(model, path)
        return model
    if not allow_scratch:
        searched = ", ".join(str(p) for p in weight_candidates(backbone, weights))
        raise WeightsError(
            f"no ImageNet weights for {backbone}: expected "
            f"{' or '.join(backbone_entry(backbone).weight_files)}; looked for {searched}. "
            "Put the file there or configure its path, or set allow_scratch to train from "
            "scratch (He initialisation)"
        )
    log.warning("no ImageNet weights for %s: training from scratch (He initialisation)", backbone)
    return model
