"""MNPO and MNPOs score maps (METHOD.md §2, §3), as pure functions of a model's tensors.

MNPO (§2): with w' = H(W_fc[y]) (``postprocess_weights``), each branch's CAM
``cam_p = (1/C) sum_c w'_c F_p,c`` (h, w) is resized bicubically (OpenCV, float64) to the input
size, and the maps are fused by a pixel-wise maximum ``M = max_p cam_p↑``; the evaluator then
min-max normalises M (a resize to the same size is the identity, so it leaves M unchanged).

MNPOs (§3), at a chosen layer with activation s (B, C, h, w):

- logit gradient ``G = d/ds sum_p z_p[y]`` (both branches when the model has two);
- channel weights ``alpha_c = sum_ij G_c(i, j)``, post-processed ``alpha' = H(alpha)``;
- loss gradient ``L = d/ds sum_p <softmax(z_p) - t e_y, z_p>`` with the back-propagated
  signal held constant: the gradient of ``LSE(z_p) - t z_p[y]``, t = 10 (the reference's custom
  soft-max cross-entropy backward, §1.6);
- enhanced map ``A = s / ||s|| - L / ||L||`` (per-sample Frobenius norms over C x h x w);
- map ``(1/C) sum_c alpha'_c A_c`` (h, w), no ReLU.

Both gradients come from one ``torch.autograd.grad`` call each, with respect to s only; the
forward pass starts its graph at s (``detach_at``), so no parameter gradient is ever formed and
no hook is registered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mnpo.cams.cam import class_activation_maps, postprocess_weights
from mnpo.metrics.scoremaps import resize_cam

TARGET_WEIGHT = 10.0
"""t of the weighted one-hot target t * e_y in MNPOs' loss gradient (the reference's 10)."""


def fuse_maps(maps: list[Tensor], size: int) -> Tensor:
    """Pixel-wise max of bicubically resized maps: list of (B, h, w) -> (B, size, size) float64.

    The resize is OpenCV's float64 INTER_CUBIC, exactly the evaluator's (``resize_cam``).
    """
    resized = [
        np.stack([resize_cam(m, size) for m in batch.detach().cpu().double().numpy()])
        for batch in maps
    ]
    return torch.from_numpy(np.maximum.reduce(resized))


def mnpo_maps(
    output: Any, fc_weight: Tensor, classes: Tensor, size: int, a: float, b: float
) -> Tensor:
    """MNPO's fused map of the main and branch CAMs -> (B, size, size) float64.

    For a single-branch output it is the main CAM resized (the same numbers after normalisation
    as plain CAM with the same ``H``).
    """
    features = [output.features]
    if output.branch_features is not None:
        features.append(output.branch_features)
    maps = [class_activation_maps(f, fc_weight, classes, a=a, b=b) for f in features]
    return fuse_maps(maps, size)


def mnpos_maps(
    model: Any,
    images: Tensor,
    classes: Tensor,
    layer: str,
    *,
    a: float = 10.0,
    b: float = 5.0,
    target: float = TARGET_WEIGHT,
) -> Tensor:
    """MNPOs maps at ``layer`` (see module docstring) -> (B, h, w) float32, detached.

    ``images`` (B, 3, H, W) and the model's parameters are left untouched (no ``.grad``).
    """
    with torch.enable_grad():
        output = model(images, taps=(layer,), detach_at=layer)
        s = output.taps[layer]
        logits = [output.logits]
        if output.branch_logits is not None:
            logits.append(output.branch_logits)
        picked = sum(z.gather(1, classes[:, None]).sum() for z in logits)
        (logit_grad,) = torch.autograd.grad(picked, s, retain_graph=True)
        onehot = F.one_hot(classes, logits[0].shape[1]).to(logits[0].dtype)
        signals = [(z.detach().softmax(1) - target * onehot) for z in logits]
        (loss_grad,) = torch.autograd.grad(logits, s, grad_outputs=signals)
    s = s.detach()
    alpha = postprocess_weights(logit_grad.sum(dim=(2, 3)), a, b)
    enhanced = _unit(s) - _unit(loss_grad)
    return torch.einsum("bc,bchw->bhw", alpha, enhanced).float() / s.shape[1]


def _unit(x: Tensor) -> Tensor:
    """Each sample divided by its Frobenius norm over all non-batch dimensions."""
    return x / x.flatten(1).norm(dim=1).view(-1, *([1] * (x.ndim - 1)))
