"""Backbones with named stages and the explicit key mapping of their ImageNet weights.

A backbone is an ``nn.ModuleDict`` of stages run in order; every stage's output can be tapped by
name. Each builder also returns ``imagenet_mapping`` (our key -> key in the reference weights
file) and ``dropped_keys`` (reference keys deliberately not loaded: the ImageNet classifier), so
that loading can be strict in both directions (see ``mnpo.models.weights``).

- ``vgg16``: torchvision VGG16 ``features`` without pool5 (13 convs 3x3 pad 1 + ReLU, four 2x2
  max-pools), then ``conv6`` = 3x3 conv 512 -> 1024 with bias + ReLU, as upstream VGG-CAM
  (METHOD.md §1.1). Output stride 16: (B, 1024, H/16, W/16).
- ``resnet50``: torchvision ResNet50 (v1.5) trunk with layer4's stride set to 1, as
  wsolevaluation's ResNet50-CAM. Output stride 16: (B, 2048, H/16, W/16).
- ``resnet18``: the same recipe on torchvision ResNet18 (layer4's first conv at stride 1):
  (B, 512, H/16, W/16); a fast CPU backbone for the embedded grid.
- ``efficientnet-lite0``: the ``efficientnet_lite_pytorch`` model (ReLU6, no squeeze-excite)
  built with ``image_size=None``, so every convolution uses the package's dynamic TF-"same"
  padding computed from the actual input size; the last stride-2 stage (stage6, block 11:
  112 -> 192 channels, 5x5 depthwise) runs at stride 1. Output stride 16:
  (B, 1280, H/16, W/16) = ReLU6(BN(conv_head)).
- ``efficientnet-lite0-os32``: the same network with its strides untouched, i.e. the ImageNet
  classifier's own geometry (B, 1280, H/32, W/32), whose GAP + FC is that classifier
  (``classifier_mapping``): the model of ``pretrained: imagenet`` (no training).
- ``inception-v3``: wsolevaluation's InceptionV3-CAM: torchvision's InceptionV3 up to Mixed_6e
  with the first conv and the two stem max-pools padded, a max-pool after Mixed_5d, Mixed_6a at
  stride 1, then two new 3x3 convs 768 -> 1024 -> 1024 + ReLU behind dropout 0.5. Output
  stride 16: (B, 1024, H/16, W/16).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache

import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from torch import Tensor, nn
from torchvision.models import resnet18 as torchvision_resnet18
from torchvision.models import resnet50 as torchvision_resnet50
from torchvision.models.inception import BasicConv2d, Inception3, InceptionA, InceptionB, InceptionC
from torchvision.models.resnet import Bottleneck, ResNet

VGG16_LAYOUT: tuple[tuple[str, int], ...] = (
    ("conv1_1", 64), ("conv1_2", 64), ("pool1", 0),
    ("conv2_1", 128), ("conv2_2", 128), ("pool2", 0),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("pool3", 0),
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512), ("pool4", 0),
    ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512),
)  # fmt: skip
"""VGG16 ``features`` without pool5, in order: (stage name, output channels; 0 = max-pool)."""


@dataclass(frozen=True, slots=True)
class Backbone:
    """A freshly built backbone.

    Attributes:
        stages: stage name -> module, run in insertion order.
        channels: C, channels of the last stage's output (the map fed to GAP + FC).
        new_stages: stages that have no ImageNet counterpart (VGG16's ``conv6``).
        imagenet_mapping: our key (relative to ``stages``) -> key in the reference file, for
            every parameter and buffer of the stages not in ``new_stages``.
        dropped_keys: reference-file keys deliberately left out (the ImageNet classifier).
        classifier_mapping: FC key (``weight``, ``bias``) -> key of the ImageNet classifier in
            the reference file, for backbones that keep the ImageNet network's geometry, where
            GAP + that FC on the last stage gives the ImageNet logits; empty otherwise.
    """

    stages: nn.ModuleDict
    channels: int
    new_stages: tuple[str, ...]
    imagenet_mapping: dict[str, str]
    dropped_keys: frozenset[str]
    classifier_mapping: dict[str, str] = field(default_factory=dict)


def he_init(module: nn.Module) -> None:
    """Initialise in place as METHOD.md §1.4: He init for convs, identity BN, N(0, 0.01) Linear.

    Conv weights ~ N(0, 2 / fan_out) with fan_out = out_channels / groups * kh * kw (Kaiming
    normal, ReLU gain), conv biases 0; BatchNorm gamma 1, beta 0; Linear weights ~ N(0, 0.01^2),
    biases 0.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def _conv_relu(in_channels: int, out_channels: int, *, inplace: bool) -> nn.Sequential:
    """3x3 conv (pad 1, bias) + ReLU: (B, in, H, W) -> (B, out, H, W)."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 3, padding=1),
            relu=nn.ReLU(inplace=inplace),
        )
    )


def vgg16() -> Backbone:
    """VGG16-CAM: stages conv1_1 .. conv5_3 and pool1 .. pool4 (torchvision order), then conv6.

    ``conv<i>_<j>`` maps to torchvision ``features.<n>`` where n is the conv's index in the
    ``features`` list (each conv is followed by its ReLU, each pool takes one index).
    """
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    mapping: dict[str, str] = {}
    in_channels, index = 3, 0
    for name, width in VGG16_LAYOUT:
        if width == 0:
            stages[name] = nn.MaxPool2d(kernel_size=2, stride=2)
            index += 1
            continue
        stages[name] = _conv_relu(in_channels, width, inplace=True)
        mapping[f"{name}.conv.weight"] = f"features.{index}.weight"
        mapping[f"{name}.conv.bias"] = f"features.{index}.bias"
        in_channels, index = width, index + 2
    stages["conv6"] = _conv_relu(in_channels, 1024, inplace=False)
    dropped = frozenset(f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias"))
    return Backbone(nn.ModuleDict(stages), 1024, ("conv6",), mapping, dropped)


def _resnet_cam(net: ResNet, channels: int) -> Backbone:
    """A torchvision ResNet trunk as CAM backbone: layer4 at stride 1, no avgpool / fc.

    Stages stem (conv1, bn1, relu, maxpool), layer1 .. layer4; keys map one to one onto
    torchvision's, the ``stem.`` prefix removed. Output stride 16: (B, C, H/16, W/16).
    """
    first = net.layer4[0]
    stride_conv = first.conv2 if isinstance(first, Bottleneck) else first.conv1
    stride_conv.stride = (1, 1)
    first.downsample[0].stride = (1, 1)
    stem = nn.Sequential(
        OrderedDict(conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool)
    )
    stages = nn.ModuleDict(
        OrderedDict(
            stem=stem, layer1=net.layer1, layer2=net.layer2, layer3=net.layer3, layer4=net.layer4
        )
    )
    mapping = {key: key.removeprefix("stem.") for key in stages.state_dict()}
    return Backbone(stages, channels, (), mapping, frozenset({"fc.weight", "fc.bias"}))


def resnet50() -> Backbone:
    """ResNet50-CAM (torchvision v1.5 bottlenecks, 2048 channels), as wsolevaluation's."""
    return _resnet_cam(torchvision_resnet50(weights=None), 2048)


def resnet18() -> Backbone:
    """ResNet18-CAM (basic blocks, 512 channels): the same recipe on the smallest ResNet.

    Not a backbone of the paper; the default CPU grid trains it from scratch in seconds per
    epoch where ResNet50 takes minutes.
    """
    return _resnet_cam(torchvision_resnet18(weights=None), 512)


class MBConvStage(nn.Module):
    """Consecutive MBConv blocks of the efficientnet-lite package (one block-args entry).

    Drop-connect as in the package's ``extract_features``: block number ``n`` of the whole
    network (0-based, out of N blocks) gets rate ``drop_connect_rate * n / N``; the blocks apply
    it only in training mode.
    """

    def __init__(self, blocks: list[nn.Module], rates: list[float]) -> None:
        super().__init__()
        if len(blocks) != len(rates):
            raise ValueError(f"{len(blocks)} blocks but {len(rates)} drop-connect rates")
        self.blocks = nn.ModuleList(blocks)
        self.rates = tuple(rates)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H / s, W / s), s the stage's stride."""
        for block, rate in zip(self.blocks, self.rates, strict=True):
            x = block(x, drop_connect_rate=rate)
        return x


def _conv_bn_relu6(conv: nn.Module, bn: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(conv=conv, bn=bn, act=nn.ReLU6()))


def _stage_bounds(blocks: nn.ModuleList) -> list[range]:
    """Block-index ranges of the stages: each stage's first block records the stage's length."""
    bounds, start = [], 0
    while start < len(blocks):
        length = blocks[start]._block_args.num_repeat
        bounds.append(range(start, start + length))
        start += length
    return bounds


def efficientnet_lite0() -> Backbone:
    """EfficientNet-Lite0 at output stride 16: stages stem, stage1 .. stage7, head.

    stem = ReLU6(BN(3x3/2 conv 3 -> 32)); stage i = the blocks built from the package's i-th
    block-args entry; head = ReLU6(BN(1x1 conv 320 -> 1280)). The last stride-2 depthwise conv
    (stage6's first block, 5x5) gets stride 1; its dynamic "same" padding then pads 2 on every
    side, so its output at odd positions equals the stride-2 output (checked in the tests).
    Keys map onto the package's (``_conv_stem``, ``_bn0``, ``_blocks.<n>``, ``_conv_head``,
    ``_bn1``); the 1000-way ``_fc`` is dropped.
    """
    return _efficientnet_lite0(output_stride=16)


def efficientnet_lite0_os32() -> Backbone:
    """EfficientNet-Lite0 as the package builds it (output stride 32), stages as
    :func:`efficientnet_lite0`. Its forward is ``_fc(dropout(GAP(head)))``, so GAP + an FC
    holding ``_fc`` reproduces the ImageNet logits and the CAM of that FC is exact."""
    return _efficientnet_lite0(output_stride=32)


def _efficientnet_lite0(output_stride: int) -> Backbone:
    """EfficientNet-Lite0 stages at output stride 32 (the package's) or 16 (see above)."""
    if output_stride not in (16, 32):
        raise ValueError(f"EfficientNet-Lite0 output stride must be 16 or 32, got {output_stride}")
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    if output_stride == 16:
        last_stride2 = max(
            n
            for n, block in enumerate(net._blocks)
            if tuple(block._depthwise_conv.stride) != (1, 1)
        )
        net._blocks[last_stride2]._depthwise_conv.stride = (1, 1)
    rate = net._global_params.drop_connect_rate or 0.0
    total = len(net._blocks)
    stages: OrderedDict[str, nn.Module] = OrderedDict(stem=_conv_bn_relu6(net._conv_stem, net._bn0))
    mapping = {f"stem.conv.{k}": f"_conv_stem.{k}" for k in net._conv_stem.state_dict()}
    mapping |= {f"stem.bn.{k}": f"_bn0.{k}" for k in net._bn0.state_dict()}
    for number, bounds in enumerate(_stage_bounds(net._blocks), start=1):
        blocks = [net._blocks[n] for n in bounds]
        stages[f"stage{number}"] = MBConvStage(blocks, [rate * n / total for n in bounds])
        for local, n in enumerate(bounds):
            for key in net._blocks[n].state_dict():
                mapping[f"stage{number}.blocks.{local}.{key}"] = f"_blocks.{n}.{key}"
    stages["head"] = _conv_bn_relu6(net._conv_head, net._bn1)
    mapping |= {f"head.conv.{k}": f"_conv_head.{k}" for k in net._conv_head.state_dict()}
    mapping |= {f"head.bn.{k}": f"_bn1.{k}" for k in net._bn1.state_dict()}
    channels = net._conv_head.out_channels
    classifier = {"weight": "_fc.weight", "bias": "_fc.bias"} if output_stride == 32 else {}
    return Backbone(
        nn.ModuleDict(stages),
        channels,
        (),
        mapping,
        frozenset({"_fc.weight", "_fc.bias"}),
        classifier,
    )


class StrideOneInceptionB(InceptionB):
    """torchvision's InceptionB (Mixed_6a) at stride 1, as in wsolevaluation's InceptionV3-CAM.

    Its two stride-2 3x3 convs run at stride 1 with padding 1 and its max-pool branch is
    max_pool(3, stride 1, padding 1): (B, C, h, w) -> (B, 384 + 96 + C, h, w). Same parameters,
    hence the same ImageNet keys, as torchvision's block.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels)
        for conv in (self.branch3x3.conv, self.branch3x3dbl_3.conv):
            conv.stride, conv.padding = (1, 1), (1, 1)

    def _forward(self, x: Tensor) -> list[Tensor]:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return [self.branch3x3(x), double, pooled]


def _dropout_conv_relu(in_channels: int, out_channels: int, *, last: bool) -> nn.Sequential:
    """Dropout 0.5, 3x3 conv (pad 1, bias), ReLU (and dropout 0.5 again if ``last``):
    (B, in, H, W) -> (B, out, H, W)."""
    layers = OrderedDict(
        dropout=nn.Dropout(0.5),
        conv=nn.Conv2d(in_channels, out_channels, 3, padding=1),
        relu=nn.ReLU(),
    )
    if last:
        layers["dropout_out"] = nn.Dropout(0.5)
    return nn.Sequential(layers)


INCEPTION_V3_STAGES: dict[str, str] = {
    "conv1a": "Conv2d_1a_3x3",
    "conv2a": "Conv2d_2a_3x3",
    "conv2b": "Conv2d_2b_3x3",
    "conv3b": "Conv2d_3b_1x1",
    "conv4a": "Conv2d_4a_3x3",
    **{
        f"mixed{n}": f"Mixed_{n[0]}{n[1]}" for n in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e")
    },
}
"""Our InceptionV3 stages with ImageNet weights -> torchvision's module names."""


@cache
def _inception_v3_dropped_keys() -> frozenset[str]:
    """Keys of torchvision's InceptionV3 weights outside ``INCEPTION_V3_STAGES`` (Mixed_7a ..
    7c, AuxLogits, fc), read off torchvision's network built on the meta device (no memory);
    once per process, as building even that takes about 0.1 s."""
    with torch.device("meta"):
        reference = Inception3(aux_logits=True, init_weights=False).state_dict()
    loaded = tuple(f"{theirs}." for theirs in INCEPTION_V3_STAGES.values())
    return frozenset(key for key in reference if not key.startswith(loaded))


def inception_v3() -> Backbone:
    """InceptionV3-CAM as wsolevaluation's ``InceptionCam``, its 1x1 class-map conv + GAP
    written as GAP + FC (the same linear map).

    Stages and their resolution at a 224 input: conv1a (3x3/2, pad 1: 112), conv2a (110),
    conv2b (110), pool1 (3x3/2, pad 1, ceil: 56), conv3b (56), conv4a (54), pool2 (28),
    mixed5b .. mixed5d (256, 288, 288 channels, 28), pool3 (3x3/2, ceil: 14), mixed6a (stride
    1, 768 channels) .. mixed6e (14), conv6 (1024), conv7 (1024) with dropout 0.5 before each,
    as the reference's SPG_A3_1b / SPG_A3_2b (its dropout before the class-map conv is conv7's
    output dropout here: identical at evaluation, and before a linear map either way). Keys map
    onto torchvision's ``Conv2d_1a_3x3`` .. ``Mixed_6e``; torchvision's Mixed_7a .. 7c,
    AuxLogits and fc are dropped. The ImageNet weights are used with ImageNet mean / std
    inputs, as wsolevaluation does (torchvision's ``transform_input`` is not applied).
    """
    stages: OrderedDict[str, nn.Module] = OrderedDict(
        conv1a=BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1),
        conv2a=BasicConv2d(32, 32, kernel_size=3),
        conv2b=BasicConv2d(32, 64, kernel_size=3, padding=1),
        pool1=nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        conv3b=BasicConv2d(64, 80, kernel_size=1),
        conv4a=BasicConv2d(80, 192, kernel_size=3),
        pool2=nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        mixed5b=InceptionA(192, pool_features=32),
        mixed5c=InceptionA(256, pool_features=64),
        mixed5d=InceptionA(288, pool_features=64),
        pool3=nn.MaxPool2d(3, stride=2, ceil_mode=True),
        mixed6a=StrideOneInceptionB(288),
        mixed6b=InceptionC(768, channels_7x7=128),
        mixed6c=InceptionC(768, channels_7x7=160),
        mixed6d=InceptionC(768, channels_7x7=160),
        mixed6e=InceptionC(768, channels_7x7=192),
        conv6=_dropout_conv_relu(768, 1024, last=False),
        conv7=_dropout_conv_relu(1024, 1024, last=True),
    )
    mapping = {
        f"{ours}.{key}": f"{theirs}.{key}"
        for ours, theirs in INCEPTION_V3_STAGES.items()
        for key in stages[ours].state_dict()
    }
    return Backbone(
        nn.ModuleDict(stages), 1024, ("conv6", "conv7"), mapping, _inception_v3_dropped_keys()
    )
