"""Backbones with named stages, strict ImageNet weight loading and the CAM network."""

from mnpo.models.network import (
    HEADS,
    IMAGENET_CLASSES,
    ModelOutput,
    WSOLNet,
    build_imagenet_classifier,
    build_model,
    init_from_trained,
)
from mnpo.models.registry import backbone_names
from mnpo.models.weights import WeightsError, load_imagenet_weights, resolve_imagenet_weights

__all__ = [
    "HEADS",
    "IMAGENET_CLASSES",
    "ModelOutput",
    "WSOLNet",
    "WeightsError",
    "backbone_names",
    "build_imagenet_classifier",
    "build_model",
    "init_from_trained",
    "load_imagenet_weights",
    "resolve_imagenet_weights",
]
