"""MNPO's parallel branch on shallow feature maps (METHOD.md §1.2, §10.5).

Three taps of the backbone: ``shallow`` (C_s, 2h, 2w), ``middle`` (C_m, h, w) and ``deep``
(C_d, h, w), where (h, w) is the final feature resolution. With C the head's channel count
(the FC input, shared by both branches):

1. ``layer1`` = Bottleneck(C_s -> 4 p1, stride 2, projection shortcut), p1 = (C - 128) / 4,
   on the shallow map -> (C - 128, h, w);
2. ``conv1`` = 1x1 conv C_m -> 64 + BN + ReLU on the middle map -> (64, h, w);
3. c1 = concat(layer1, conv1) -> (C - 64, h, w);
4. ``layer2`` = Bottleneck(C - 64 -> C - 64, stride 1, identity shortcut), p2 = (C - 64) / 4;
5. ``conv2`` = 1x1 conv C_d -> 64 + BN + ReLU on the deep map -> (64, h, w);
6. F_branch = concat(layer2(c1), conv2) -> (C, h, w).

For VGG16 (C = 1024; taps conv4_2, conv5_1, conv5_3, all 512 channels) this is exactly the
reference's ``Branch1_Module``: p1 = 224 (896 channels), p2 = 240 (960 channels), 2.27 M conv
weights. Bottlenecks are torchvision's (expansion 4, stride on the 3x3 conv, convs without bias).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck

SIDE_CHANNELS = 64
"""Channels of the two 1x1 side convolutions (``conv1``, ``conv2``)."""


def _conv1x1_bn(
    in_channels: int, out_channels: int, *, stride: int = 1, relu: bool
) -> nn.Sequential:
    """1x1 conv (no bias) + BN (+ ReLU)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MultiBranch(nn.Module):
    """The parallel branch: (shallow, middle, deep) taps -> F_branch (B, C, h, w)."""

    def __init__(self, shallow: int, middle: int, deep: int, out_channels: int) -> None:
        """Build for tap channel counts ``shallow``, ``middle``, ``deep`` and output C.

        Raises:
            ValueError: C not a multiple of 4 or not above 128.
        """
        super().__init__()
        if out_channels % 4 or out_channels <= 2 * SIDE_CHANNELS:
            raise ValueError(f"branch output must be a multiple of 4 above 128, got {out_channels}")
        first = out_channels - 2 * SIDE_CHANNELS
        second = out_channels - SIDE_CHANNELS
        self.layer1 = Bottleneck(
            shallow,
            first // 4,
            stride=2,
            downsample=_conv1x1_bn(shallow, first, stride=2, relu=False),
        )
        self.conv1 = _conv1x1_bn(middle, SIDE_CHANNELS, relu=True)
        self.layer2 = Bottleneck(second, second // 4)
        self.conv2 = _conv1x1_bn(deep, SIDE_CHANNELS, relu=True)

    def forward(self, shallow: Tensor, middle: Tensor, deep: Tensor) -> Tensor:
        """(B, C_s, 2h, 2w), (B, C_m, h, w), (B, C_d, h, w) -> F_branch (B, C, h, w)."""
        c1 = torch.cat([self.layer1(shallow), self.conv1(middle)], dim=1)
        return torch.cat([self.layer2(c1), self.conv2(deep)], dim=1)
