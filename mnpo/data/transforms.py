"""Image transforms of the WSOL protocol (METHOD.md §4).

- train: resize to ``resize x resize`` (aspect ratio not kept) -> random ``crop x crop`` ->
  random horizontal flip -> tensor -> ImageNet normalisation (paper: 256 / 224);
- eval (localisation, wsoleval classification): resize straight to ``size x size``;
- ten-crop (paper classification): resize to ``resize`` -> TenCrop(``crop``), (10, 3, S, S).
"""

from __future__ import annotations

import torch
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_normalised_tensor() -> T.Compose:
    return T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_transform(crop_size: int, resize_size: int) -> T.Compose:
    """Resize -> random crop -> random flip -> normalised tensor (3, crop, crop)."""
    return T.Compose(
        [
            T.Resize((resize_size, resize_size)),
            T.RandomCrop(crop_size),
            T.RandomHorizontalFlip(),
            _to_normalised_tensor(),
        ]
    )


def eval_transform(size: int) -> T.Compose:
    """Resize to ``size x size`` -> normalised tensor (3, size, size)."""
    return T.Compose([T.Resize((size, size)), _to_normalised_tensor()])


TENCROP_VIEWS = 10
"""Views per image of ``tencrop_transform``."""


def tencrop_transform(crop_size: int, resize_size: int) -> T.Compose:
    """Resize -> 4 corners + centre and their flips -> (TENCROP_VIEWS, 3, crop, crop)."""
    normalise = _to_normalised_tensor()
    return T.Compose(
        [
            T.Resize((resize_size, resize_size)),
            T.TenCrop(crop_size),
            T.Lambda(lambda crops: torch.stack([normalise(c) for c in crops])),
        ]
    )
