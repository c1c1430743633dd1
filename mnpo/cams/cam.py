"""Class activation maps from FC weights, with sign-dependent weight post-processing.

CAM (Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016): for
features ``F`` of shape (B, C, h, w) feeding GAP + FC with weights ``W`` of shape (K, C), the map
of class ``y`` is the channel mean ``M_y(i, j) = (1/C) * sum_c W[y, c] * F[c, i, j]`` (the FC bias
is ignored). MNPO's weight post-processing (METHOD.md §2) replaces ``W[y]`` by
``H(w) = a * w if w > 0 else b * w``; ``a = b = 1`` is plain CAM. After min-max normalisation
only the ratio ``a / b`` matters.
"""

from __future__ import annotations

import torch
from torch import Tensor


def postprocess_weights(weights: Tensor, a: float = 1.0, b: float = 1.0) -> Tensor:
    """``H(w) = a * w`` where ``w > 0``, else ``b * w`` (element-wise, any shape, no mutation)."""
    return torch.where(weights > 0, weights * a, weights * b)


def class_activation_maps(
    features: Tensor, fc_weight: Tensor, classes: Tensor, *, a: float = 1.0, b: float = 1.0
) -> Tensor:
    """FC-weighted channel mean of ``features`` for one class per sample.

    Args:
        features: (B, C, h, w) the map fed to GAP + FC.
        fc_weight: (K, C) the FC weights.
        classes: (B,) the class of each sample's map (the ground-truth class in WSOL).
        a, b: weight post-processing factors for positive / non-positive weights.

    Returns:
        (B, h, w) maps ``(1/C) * sum_c H(W[y_b, c]) * F[b, c]``, float32, detached.
    """
    if features.ndim != 4:
        raise ValueError(f"features must be (B, C, h, w), got shape {tuple(features.shape)}")
    if fc_weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"FC expects {fc_weight.shape[1]} channels but features have {features.shape[1]}"
        )
    weights = postprocess_weights(fc_weight.detach()[classes], a, b).float()
    maps = torch.einsum("bc,bchw->bhw", weights, features.detach().float())
    return maps / features.shape[1]
