"""Backbones with named stages, and the explicit ImageNet key mapping of each.

Every backbone is an ``nn.ModuleDict`` of stages run in order; a stage's output can be tapped
by name. ``imagenet_mapping`` maps each of our state-dict keys to the key of the reference
file (torchvision's, or the efficientnet-lite0 wheel's), and ``dropped`` lists the reference
keys deliberately not loaded (the ImageNet classifier). Loading is strict against both.

- ``vgg16``: torchvision VGG16 ``features`` without pool5 (13 convs, ReLU) + ``conv6`` (3x3,
  512 -> 1024, bias, ReLU), as upstream VGG-CAM (METHOD.md §1.1); stride 16 (14 x 14 at 224).
- ``resnet50``: torchvision ResNet50 with layer4's stride set to 1 (wsolevaluation's
  ResNet50-CAM); stride 16, 2048 channels.
- ``efficientnet-lite0``: the ``efficientnet_lite_pytorch`` model with its last stride-2 stage
  (stage 6: 112 -> 192 channels, 5x5 depthwise) at stride 1; stride 16; head 1x1 conv to 1280
  channels + BN + ReLU6. Its TF-"same" paddings are made dynamic so any input size works.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn import functional as F

VGG16_LAYOUT = (
    ("conv1_1", 64), ("conv1_2", 64), ("pool1", 0),
    ("conv2_1", 128), ("conv2_2", 128), ("pool2", 0),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("pool3", 0),
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512), ("pool4", 0),
    ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Backbone:
    """A built backbone: its stages, output channels and ImageNet key mapping."""

    stages: nn.ModuleDict
    channels: int
    new_stages: tuple[str, ...]
    imagenet_mapping: dict[str, str]
    dropped: frozenset[str]
    reference_file: str


def _he_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def vgg16() -> Backbone:
    """VGG16-CAM features; stage names conv1_1..conv5_3, pool1..pool4, conv6."""
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    mapping: dict[str, str] = {}
    channels, index = 3, 0
    for name, width in VGG16_LAYOUT:
        if width == 0:
            stages[name] = nn.MaxPool2d(2, 2)
            index += 1
            continue
        stages[name] = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(True))
        for param in ("weight", "bias"):
            mapping[f"{name}.0.{param}"] = f"features.{index}.{param}"
        channels, index = width, index + 2
    stages["conv6"] = nn.Sequential(nn.Conv2d(512, 1024, 3, padding=1), nn.ReLU(False))
    module = nn.ModuleDict(stages)
    _he_init(module)
    dropped = frozenset(f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias"))
    return Backbone(module, 1024, ("conv6",), mapping, dropped, "vgg16-397923af.pth")


def resnet50() -> Backbone:
    """torchvision ResNet50 trunk, layer4 at stride 1; stages stem, layer1..layer4."""
    from torchvision.models import resnet50 as tv_resnet50

    net = tv_resnet50(weights=None)
    net.layer4[0].conv2.stride = (1, 1)
    net.layer4[0].downsample[0].stride = (1, 1)
    stem = nn.Sequential(
        OrderedDict(conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool)
    )
    stages = nn.ModuleDict(
        OrderedDict(stem=stem, layer1=net.layer1, layer2=net.layer2, layer3=net.layer3,
                    layer4=net.layer4)
    )  # fmt: skip
    mapping = {}
    for key in stages.state_dict():
        stage, rest = key.split(".", 1)
        mapping[key] = rest if stage == "stem" else key
    dropped = frozenset({"fc.weight", "fc.bias"})
    return Backbone(stages, 2048, (), mapping, dropped, "resnet50-0676ba61.pth")


class _SamePad(nn.Module):
    """TF "same" padding computed from the actual input size (any size works)."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            out = -(-size // self.stride)
            total = max((out - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)


def _dynamic_same_padding(conv: nn.Conv2d) -> None:
    """Replace the package's fixed ``static_padding`` of ``conv`` by size-aware padding."""
    if hasattr(conv, "static_padding"):
        conv.static_padding = _SamePad(conv.kernel_size[0], conv.stride[0])


def _first(value: int | list[int]) -> int:
    """The package stores a stage's first-block stride as ``[s]`` and later ones as ``s``."""
    return value[0] if isinstance(value, list) else value


class _MBStage(nn.Module):
    """A run of the package's MBConv blocks (drop-connect scaled as in the package)."""

    def __init__(self, blocks: list[nn.Module], first_index: int, total: int, rate: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.rates = [rate * (first_index + i) / total for i in range(len(blocks))]

    def forward(self, x: Tensor) -> Tensor:
        for block, rate in zip(self.blocks, self.rates, strict=True):
            x = block(x, drop_connect_rate=rate or None)
        return x


def efficientnet_lite0() -> Backbone:
    """EfficientNet-Lite0; stages stem, stage1..stage7, head."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            _dynamic_same_padding(module)
    relu6 = net._swish
    stem = nn.Sequential(OrderedDict(conv=net._conv_stem, bn=net._bn0, act=relu6))
    stage_of: list[int] = []
    for stage, args in enumerate(net._blocks_args):
        stage_of += [stage] * args.num_repeat
    if len(stage_of) != len(net._blocks):
        raise RuntimeError("unexpected efficientnet-lite0 block layout")
    rate = net._global_params.drop_connect_rate or 0.0
    stages: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
    mapping = {f"stem.conv.{k}": f"_conv_stem.{k}" for k in net._conv_stem.state_dict()}
    mapping |= {f"stem.bn.{k}": f"_bn0.{k}" for k in net._bn0.state_dict()}
    for stage in range(len(net._blocks_args)):
        indices = [i for i, s in enumerate(stage_of) if s == stage]
        blocks = [net._blocks[i] for i in indices]
        stages[f"stage{stage + 1}"] = _MBStage(blocks, indices[0], len(net._blocks), rate)
        for local, global_index in enumerate(indices):
            for key in net._blocks[global_index].state_dict():
                mapping[f"stage{stage + 1}.blocks.{local}.{key}"] = f"_blocks.{global_index}.{key}"
    strides = [_first(b._block_args.stride) for b in net._blocks]
    last_stride2 = max(i for i, stride in enumerate(strides) if stride != 1)
    depthwise = net._blocks[last_stride2]._depthwise_conv
    depthwise.stride = (1, 1)
    _dynamic_same_padding(depthwise)
    head = nn.Sequential(OrderedDict(conv=net._conv_head, bn=net._bn1, act=relu6))
    stages["head"] = head
    mapping |= {f"head.conv.{k}": f"_conv_head.{k}" for k in net._conv_head.state_dict()}
    mapping |= {f"head.bn.{k}": f"_bn1.{k}" for k in net._bn1.state_dict()}
    module = nn.ModuleDict(stages)
    dropped = frozenset({"_fc.weight", "_fc.bias"})
    return Backbone(module, 1280, (), mapping, dropped, "efficientnet-lite0-57934424.pth")


BACKBONES: dict[str, Callable[[], Backbone]] = {
    "vgg16": vgg16,
    "resnet50": resnet50,
    "efficientnet-lite0": efficientnet_lite0,
}


def run_stages(
    stages: nn.ModuleDict, x: Tensor, taps: set[str]
) -> tuple[Tensor, dict[str, Tensor]]:
    """Run every stage in order; returns the last output and the tapped ones."""
    tapped: dict[str, Tensor] = {}
    for name, stage in stages.items():
        x = stage(x)
        if name in taps:
            tapped[name] = x
    return x, tapped
