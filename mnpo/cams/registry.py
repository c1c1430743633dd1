"""Registered score-map variants: ``kind`` name -> pure function of a model's output.

A variant kind is a function ``(model, output, images, classes, **params) -> maps (B, h, w)``.
``output`` is the model's forward output on ``images`` (computed once per batch and shared by
all variants of a job); kinds that need gradients may run their own forward passes on ``images``.
Config selects kinds by name (``methods.<method>.variants.<variant>.kind``); the schema's
enumeration equals :func:`variant_kinds` (checked by a test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from torch import Tensor

from mnpo.cams.cam import class_activation_maps
from mnpo.cams.mnpo import TARGET_WEIGHT, mnpo_maps, mnpos_maps
from mnpo.models.registry import backbone_entry


class MapFunction(Protocol):
    def __call__(
        self, model: Any, output: Any, images: Tensor, classes: Tensor, **params: float
    ) -> Tensor: ...


def _cam(
    model: Any, output: Any, images: Tensor, classes: Tensor, *, a: float = 1.0, b: float = 1.0
) -> Tensor:
    """Plain CAM (``a = b = 1``) or CAM with weight post-processing ``H`` (METHOD.md §2)."""
    return class_activation_maps(output.features, model.fc.weight, classes, a=a, b=b)


def _mnpo(
    model: Any, output: Any, images: Tensor, classes: Tensor, *, a: float = 10.0, b: float = 5.0
) -> Tensor:
    """MNPO: both branches' CAMs with ``H``, resized to the input, pixel-wise max (§2)."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"MNPO maps need square inputs, got {tuple(images.shape[-2:])}")
    return mnpo_maps(output, model.fc.weight, classes, images.shape[-1], a, b)


def grad_layer(model: Any, layer: str | dict[str, str] | None) -> str:
    """The MNPOs layer for ``model``: a stage name, a backbone -> stage mapping, or None for
    the backbone's default (``BackboneEntry.grad_layer``).

    Raises:
        ValueError: a mapping without the model's backbone.
    """
    if layer is None:
        return backbone_entry(model.backbone_name).grad_layer
    if isinstance(layer, dict):
        if model.backbone_name not in layer:
            raise ValueError(f"no MNPOs layer given for backbone {model.backbone_name!r}")
        return layer[model.backbone_name]
    return layer


def _mnpos(
    model: Any,
    output: Any,
    images: Tensor,
    classes: Tensor,
    *,
    a: float = 10.0,
    b: float = 5.0,
    layer: str | dict[str, str] | None = None,
    target: float = TARGET_WEIGHT,
) -> Tensor:
    """MNPOs: gradient post-processing at a shallow layer (§3); own forward pass."""
    return mnpos_maps(model, images, classes, grad_layer(model, layer), a=a, b=b, target=target)


_KINDS: dict[str, Callable[..., Tensor]] = {"cam": _cam, "mnpo": _mnpo, "mnpos": _mnpos}
_PARAMS: dict[str, frozenset[str]] = {
    "cam": frozenset({"a", "b"}),
    "mnpo": frozenset({"a", "b"}),
    "mnpos": frozenset({"a", "b", "layer", "target"}),
}


def variant_kinds() -> tuple[str, ...]:
    """Names of the registered kinds."""
    return tuple(_KINDS)


def resolve_variant(spec: dict[str, Any]) -> Callable[..., Tensor]:
    """The map function of a variant spec ``{"kind": name, **params}``, params bound.

    Raises:
        ValueError: unknown kind or a parameter the kind does not take.
    """
    params = dict(spec)
    kind = params.pop("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown score-map kind {kind!r}; known: {sorted(_KINDS)}")
    unknown = sorted(set(params) - _PARAMS[kind])
    if unknown:
        raise ValueError(f"kind {kind!r} takes {sorted(_PARAMS[kind])}, got unknown {unknown}")
    function = _KINDS[kind]

    def bound(model: Any, output: Any, images: Tensor, classes: Tensor) -> Tensor:
        return function(model, output, images, classes, **params)

    return bound
