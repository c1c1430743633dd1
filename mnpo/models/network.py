"""The WSOL network: backbone stages, then GAP and a fully connected classifier.

For an image batch x of shape (B, 3, H, W) the backbone gives ``features`` F of shape
(B, C, h, w) (post-activation, h = H/16 and w = W/16 for square inputs that are multiples of 32),
and the logits are z = FC(GAP(F)) = W_fc · mean_{i,j} F[:, :, i, j] + b_fc with ``fc.weight``
W_fc of shape (K, C): the class weights used by CAM.

Heads: ``cam`` is the above; ``mnpo`` adds MNPO's parallel branch (``mnpo.models.branch``) on
three backbone taps, whose output F_branch (B, C, h, w) goes through the *same* FC:
z2 = FC(GAP(F_branch)); the training loss is CE(z1, y) + CE(z2, y) (METHOD.md §1.2-1.5).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnpo.grid import HEADS, IMAGENET_CLASSES
from mnpo.models.backbones import he_init
from mnpo.models.branch import MultiBranch
from mnpo.models.registry import backbone_entry
from mnpo.models.weights import (
    WeightsError,
    load_imagenet_classifier,
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
        branch_logits: (B, K) z2 = FC(GAP(branch_features)) of an ``mnpo`` head, else None.
        branch_features: (B, C, h, w) F_branch of an ``mnpo`` head, else None.
    """

    logits: Tensor
    features: Tensor
    taps: dict[str, Tensor] = field(default_factory=dict)
    branch_logits: Tensor | None = None
    branch_features: Tensor | None = None


class WSOLNet(nn.Module):
    """Backbone + GAP + FC (+ MNPO branch), randomly initialised as METHOD.md §1.4.

    Attributes:
        backbone_name: registry name of the backbone.
        head: ``cam`` or ``mnpo``.
        num_classes: K.
        feature_channels: C.
        backbone: stage name -> module, run in order.
        fc: Linear C -> K; ``fc.weight`` (K, C) gives the CAM.
        branch: the MNPO branch (``mnpo`` head) or None.
        branch_taps: its (shallow, middle, deep) stages, () for ``cam``.
        stage_names: the tappable stages, in forward order.
        new_stages: stages without ImageNet counterpart (trained like the FC).
        imagenet_mapping: our backbone key -> key in the ImageNet weights file.
        dropped_keys: keys of the ImageNet file deliberately not loaded.
        classifier_mapping: FC key -> key of the ImageNet classifier in that file (empty when
            the backbone changes the ImageNet network's geometry).
    """

    def __init__(self, backbone_name: str, num_classes: int, head: str = "cam") -> None:
        """Build ``backbone_name`` with a K-way FC; He init everywhere (no weights loaded).

        Raises:
            ValueError: unknown backbone or head, or num_classes < 1.
        """
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; known: {', '.join(HEADS)}")
        entry = backbone_entry(backbone_name)
        built = entry.build()
        self.backbone_name = backbone_name
        self.head = head
        self.num_classes = num_classes
        self.feature_channels = built.channels
        self.backbone = built.stages
        self.fc = nn.Linear(built.channels, num_classes)
        self.stage_names: tuple[str, ...] = tuple(built.stages.keys())
        self.new_stages = built.new_stages
        self.imagenet_mapping = built.imagenet_mapping
        self.dropped_keys = built.dropped_keys
        self.classifier_mapping = built.classifier_mapping
        self.branch_taps: tuple[str, ...] = entry.branch_taps if head == "mnpo" else ()
        self.branch = self._build_branch() if head == "mnpo" else None
        he_init(self)

    def _build_branch(self) -> MultiBranch:
        """The branch for this backbone's taps; tap channels read from a 64x64 dry run."""
        with torch.no_grad():
            taps = self._stages(torch.zeros(1, 3, 64, 64), set(self.branch_taps))[1]
        shallow, middle, deep = (taps[name].shape[1] for name in self.branch_taps)
        return MultiBranch(shallow, middle, deep, self.feature_channels)

    def _stages(
        self, images: Tensor, wanted: set[str], detach_at: str | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Run the stages; returns the last output and the outputs of the ``wanted`` stages."""
        tapped: dict[str, Tensor] = {}
        x = images
        for name, stage in self.backbone.items():
            x = stage(x)
            if name == detach_at:
                x = x.detach().requires_grad_(True)
            if name in wanted:
                tapped[name] = x
        return x, tapped

    def forward(
        self,
        images: Tensor,
        taps: Sequence[str] = (),
        detach_at: str | None = None,
        branch: bool = True,
    ) -> ModelOutput:
        """Logits, features, the branch's outputs and the requested stage outputs for ``images``.

        Args:
            images: (B, 3, H, W) normalised images (any memory format).
            taps: names of stages whose outputs to return (see ``stage_names``).
            detach_at: a stage whose output starts a fresh autograd graph (detached, requiring
                grad): gradients with respect to it then never reach earlier stages (MNPOs).
            branch: False skips the MNPO branch (classification needs z1 only).

        Returns:
            ``ModelOutput`` with logits (B, K), features (B, C, h, w), ``taps`` and, for the
            ``mnpo`` head, branch logits and features.

        Raises:
            ValueError: ``images`` not (B, 3, H, W), or an unknown tap name.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
        requested = set(taps) | ({detach_at} if detach_at else set())
        unknown = sorted(requested - set(self.stage_names))
        if unknown:
            raise ValueError(
                f"unknown taps {unknown} for {self.backbone_name}; "
                f"valid: {', '.join(self.stage_names)}"
            )
        with_branch = branch and self.branch is not None
        wanted = set(taps) | (set(self.branch_taps) if with_branch else set())
        x, tapped = self._stages(images, wanted, detach_at)
        output = ModelOutput(self.fc(x.mean(dim=(2, 3))), x)
        if with_branch:
            branch = self.branch(*(tapped[name] for name in self.branch_taps))
            output.branch_features = branch
            output.branch_logits = self.fc(branch.mean(dim=(2, 3)))
        output.taps = {name: tapped[name] for name in taps}
        return output

    def loss(self, output: ModelOutput, labels: Tensor) -> Tensor:
        """CE(z1, y), plus CE(z2, y) for the ``mnpo`` head (equal weights, batch means)."""
        loss = F.cross_entropy(output.logits, labels)
        if output.branch_logits is not None:
            loss = loss + F.cross_entropy(output.branch_logits, labels)
        return loss

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(pretrained backbone parameters, newly added parameters: new stages, branch, FC).

        The split is the same whether or not ImageNet weights were loaded.
        """
        pretrained: list[nn.Parameter] = []
        new: list[nn.Parameter] = []
        for name, stage in self.backbone.items():
            (new if name in self.new_stages else pretrained).extend(stage.parameters())
        if self.branch is not None:
            new.extend(self.branch.parameters())
        new.extend(self.fc.parameters())
        return pretrained, new


def build_model(
    backbone: str,
    num_classes: int,
    *,
    head: str = "cam",
    weights: str | os.PathLike[str] | None = None,
    allow_scratch: bool = False,
) -> WSOLNet:
    """The network with ImageNet weights in its pretrained stages.

    Args:
        backbone: registry name (``backbone_names()``).
        num_classes: K.
        head: ``cam`` or ``mnpo``.
        weights: ImageNet weights file or folder; None looks in the default places
            (``mnpo.models.weights``).
        allow_scratch: when no weights are found, train from scratch (He init) instead of
            failing.

    Raises:
        ValueError: unknown backbone or head.
        WeightsError: no weights found and ``allow_scratch`` is false (the message names the
            expected file names and the places searched), or a file that does not match.
    """
    model = WSOLNet(backbone, num_classes, head)
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


def build_imagenet_classifier(backbone: str, weights: str | os.PathLike[str]) -> WSOLNet:
    """The backbone's ImageNet classifier as a ``cam`` model with 1000 classes: every stage and
    the FC loaded strictly from the ImageNet ``weights`` file (no training, no new layer).

    Raises:
        ValueError: unknown backbone.
        WeightsError: a backbone without ImageNet classifier geometry, or a file that does not
            match (``load_imagenet_classifier``).
    """
    model = WSOLNet(backbone, IMAGENET_CLASSES, "cam")
    load_imagenet_classifier(model, Path(weights))
    return model


def init_from_trained(model: WSOLNet, state_dict: dict[str, Tensor], source: str) -> None:
    """Copy a trained CAM model's backbone and FC into ``model`` (METHOD.md §10.1).

    Strict by key: every key of ``state_dict`` must exist in ``model`` with the same shape,
    and the only keys of ``model`` left out may be its branch's (which keeps its He init).

    Raises:
        WeightsError: an unexpected or missing key, or a shape mismatch (``source`` named).
    """
    own = model.state_dict()
    unexpected = sorted(set(state_dict) - set(own))
    missing = sorted(k for k in set(own) - set(state_dict) if not k.startswith("branch."))
    shapes = sorted(
        k for k in set(state_dict) & set(own) if tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if unexpected or missing or shapes:
        raise WeightsError(
            f"{source}: cannot initialise a {model.backbone_name}-{model.head} model from it "
            f"(unexpected keys {unexpected[:5]}, missing keys {missing[:5]}, shape "
            f"mismatches {shapes[:5]})"
        )
    model.load_state_dict(state_dict, strict=False)
