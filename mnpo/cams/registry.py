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


class MapFunction(Protocol):
    def __call__(
        self, model: Any, output: Any, images: Tensor, classes: Tensor, **params: float
    ) -> Tensor: ...


def _cam(
    model: Any, output: Any, images: Tensor, classes: Tensor, *, a: float = 1.0, b: float = 1.0
) -> Tensor:
    """Plain CAM (``a = b = 1``) or CAM with weight post-processing ``H`` (METHOD.md §2)."""
    return class_activation_maps(output.features, model.fc.weight, classes, a=a, b=b)


_KINDS: dict[str, Callable[..., Tensor]] = {"cam": _cam}
_PARAMS: dict[str, frozenset[str]] = {"cam": frozenset({"a", "b"})}


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
