"""Backbones, strict ImageNet loading and the WSOL network."""

from mnpo.models.network import (
    ModelOutput,
    WSOLNet,
    backbone_names,
    build_model,
    imagenet_weights,
)
from mnpo.models.weights import WeightsError

__all__ = [
    "ModelOutput",
    "WSOLNet",
    "WeightsError",
    "backbone_names",
    "build_model",
    "imagenet_weights",
]
