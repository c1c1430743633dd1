"""MNPO head, MNPO fusion and MNPOs maps against independent straightforward computations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torchvision
from torch import Tensor, nn

from mnpo.cams.cam import class_activation_maps
from mnpo.cams.mnpo import mnpo_maps, mnpos_maps
from mnpo.cams.registry import resolve_variant
from mnpo.models import WeightsError, WSOLNet, build_model, init_from_trained
from mnpo.models.registry import backbone_entry, backbone_names


def _model(backbone: str, classes: int, head: str = "mnpo", seed: int = 0) -> WSOLNet:
    torch.manual_seed(seed)
    model = WSOLNet(backbone, classes, head).eval()
    with torch.no_grad():  # BN statistics away from the identity, as in a trained model
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    return model


def test_vgg16_branch_shapes_and_parameter_count_match_the_reference() -> None:
    model = _model("vgg16", 1000)
    branch = model.branch
    convs = sum(m.weight.numel() for m in branch.modules() if isinstance(m, nn.Conv2d))
    bn = sum(
        p.numel() for m in branch.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    # layer1 512*224 + 224*224*9 + 224*896 + 512*896; conv1 512*64; layer2 960*240 + 240*240*9
    # + 240*960; conv2 512*64
    assert convs == 1_225_728 + 32_768 + 979_200 + 32_768 == 2_270_464
    assert bn == 2 * (224 + 224 + 896 + 896 + 64 + 240 + 240 + 960 + 64)
    assert not any(m.bias is not None for m in branch.modules() if isinstance(m, nn.Conv2d))
    taps = model(torch.randn(1, 3, 224, 224), taps=("conv4_2", "conv5_1", "conv5_3"))
    x1, x2, x3 = (taps.taps[k] for k in ("conv4_2", "conv5_1", "conv5_3"))
    assert x1.shape == (1, 512, 28, 28) and x2.shape == x3.shape == (1, 512, 14, 14)
    layer1 = branch.layer1(x1)
    assert layer1.shape == (1, 896, 14, 14)
    c1 = torch.cat([layer1, branch.conv1(x2)], 1)
    assert c1.shape == (1, 960, 14, 14) and branch.layer2(c1).shape == (1, 960, 14, 14)
    out = model(torch.randn(1, 3, 224, 224))
    assert out.branch_features.shape == (1, 1024, 14, 14) and out.branch_logits.shape == (1, 1000)


def test_branch_logits_share_the_fc_and_the_loss_sums_both_branches() -> None:
    model = _model("resnet18", 5)
    images = torch.randn(2, 3, 64, 64)
    out = model(images)
    main_only = model(images, branch=False)
    assert torch.equal(main_only.logits, out.logits) and main_only.branch_logits is None
    pooled = out.branch_features.mean(dim=(2, 3))
    torch.testing.assert_close(out.branch_logits, pooled @ model.fc.weight.T + model.fc.bias)
    labels = torch.tensor([1, 4])
    expected = nn.functional.cross_entropy(out.logits, labels) + nn.functional.cross_entropy(
        out.branch_logits, labels
    )
    torch.testing.assert_close(model.loss(out, labels), expected)
    pretrained, new = model.parameter_groups()
    assert {id(p) for p in model.branch.parameters()} <= {id(p) for p in new}


def test_vgg16_mnpo_loads_imagenet_convs_strictly_and_keeps_the_branch(tmp_path) -> None:
    net = torchvision.models.vgg16(weights=None)
    state = {k: torch.randn_like(v) for k, v in net.state_dict().items()}
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    torch.manual_seed(0)
    reference_branch = WSOLNet("vgg16", 10, "mnpo").branch.state_dict()
    torch.manual_seed(0)
    model = build_model("vgg16", 10, head="mnpo", weights=path)
    assert torch.equal(model.backbone["conv5_3"].conv.weight, state["features.28.weight"])
    assert all(torch.equal(v, reference_branch[k]) for k, v in model.branch.state_dict().items())
    torch.save(state | {"features.99.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="unexpected keys"):
        build_model("vgg16", 10, head="mnpo", weights=path)


def test_init_from_a_trained_cam_model_is_strict() -> None:
    cam = _model("resnet18", 6, head="cam", seed=1)
    mnpo = _model("resnet18", 6, seed=2)
    init_from_trained(mnpo, cam.state_dict(), "cam.pt")
    own = mnpo.state_dict()
    assert all(torch.equal(own[k], v) for k, v in cam.state_dict().items())
    with pytest.raises(WeightsError, match=r"cam.pt: .*unexpected keys \['extra'\]"):
        init_from_trained(mnpo, cam.state_dict() | {"extra": torch.zeros(1)}, "cam.pt")
    smaller = {k: v for k, v in cam.state_dict().items() if k != "fc.bias"}
    with pytest.raises(WeightsError, match=r"missing keys \['fc.bias'\]"):
        init_from_trained(mnpo, smaller, "cam.pt")
    other = _model("resnet18", 7, head="cam").state_dict()
    with pytest.raises(WeightsError, match=r"shape mismatches \['fc.bias', 'fc.weight'\]"):
        init_from_trained(mnpo, other, "cam.pt")


def test_mnpo_fusion_is_the_pixel_max_of_bicubic_branch_maps() -> None:
    model = _model("resnet18", 4)
    images, classes = torch.randn(3, 3, 64, 64), torch.tensor([0, 3, 1])
    with torch.no_grad():
        out = model(images)
    fused = mnpo_maps(out, model.fc.weight, classes, 64, a=10, b=5)
    assert fused.shape == (3, 64, 64) and fused.dtype == torch.float64
    for i, y in enumerate(classes.tolist()):
        w = model.fc.weight[y].detach().double().numpy()
        w = np.where(w > 0, 10 * w, 5 * w)
        maps = []
        for f in (out.features[i], out.branch_features[i]):
            cam = np.tensordot(w, f.double().numpy(), axes=1) / f.shape[0]
            maps.append(cv2.resize(cam, (64, 64), interpolation=cv2.INTER_CUBIC))
        np.testing.assert_allclose(fused[i].numpy(), np.maximum(*maps), rtol=1e-5, atol=1e-7)
    assert not torch.equal(fused, mnpo_maps(out, model.fc.weight, classes, 64, a=1, b=1))


def test_mnpos_at_the_last_layer_of_a_cam_model_has_a_closed_form() -> None:
    """z = W mean(F) + b: dz_y/dF_c = W[y, c] / hw, so alpha_c = W[y, c], and the loss gradient is
    (softmax(z) - 10 e_y)^T W / hw at every pixel."""
    model = _model("resnet18", 10, head="cam")
    images, classes = torch.randn(2, 3, 64, 64), torch.tensor([7, 2])
    maps = mnpos_maps(model, images, classes, "layer4", a=10, b=5)
    with torch.no_grad():
        out = model(images)
    feats, logits, w = out.features.double(), out.logits.double(), model.fc.weight.double()
    for i, y in enumerate(classes.tolist()):
        signal = logits[i].softmax(0) - 10 * nn.functional.one_hot(torch.tensor(y), 10)
        grad = (signal @ w)[:, None, None].expand_as(feats[i]) / (feats.shape[2] * feats.shape[3])
        alpha = torch.where(w[y] > 0, 10 * w[y], 5 * w[y])
        enhanced = feats[i] / feats[i].norm() - grad / grad.norm()
        expected = torch.einsum("c,chw->hw", alpha, enhanced) / feats.shape[1]
        torch.testing.assert_close(maps[i].double(), expected, rtol=2e-4, atol=1e-6)


def _separate_gradients(model: WSOLNet, images: Tensor, classes: Tensor, layer: str):
    """Logit and loss gradients from one backward per branch and quantity, summed after."""
    logit_grads, loss_grads = [], []
    for pick in ("logits", "branch_logits"):
        for target in ("logit", "loss"):
            out = model(images, taps=(layer,))
            z = getattr(out, pick)
            if target == "logit":
                root = z.gather(1, classes[:, None]).sum()
                (g,) = torch.autograd.grad(root, out.taps[layer])
                logit_grads.append(g)
            else:
                onehot = nn.functional.one_hot(classes, z.shape[1]).float()
                signal = z.detach().softmax(1) - 10 * onehot
                (g,) = torch.autograd.grad(z, out.taps[layer], grad_outputs=signal)
                loss_grads.append(g)
    return sum(logit_grads), sum(loss_grads)


@pytest.mark.parametrize("classes_count", [200, 10])
def test_mnpos_sums_both_branches_and_works_for_any_class_count(classes_count: int) -> None:
    model = _model("resnet18", classes_count)
    images = torch.randn(2, 3, 64, 64)
    classes = torch.tensor([classes_count - 1, 3])
    kept = images.clone()
    maps = mnpos_maps(model, images, classes, "layer3", a=8, b=4)
    assert torch.equal(images, kept), "inputs are not mutated"
    assert all(p.grad is None for p in model.parameters()), "no parameter gradients"
    assert maps.shape == (2, 4, 4) and torch.isfinite(maps).all()
    logit_grad, loss_grad = _separate_gradients(model, images, classes, "layer3")
    with torch.no_grad():
        s = model(images, taps=("layer3",)).taps["layer3"]
    alpha = logit_grad.sum(dim=(2, 3))
    alpha = torch.where(alpha > 0, 8 * alpha, 4 * alpha)
    unit = lambda x: x / x.flatten(1).norm(dim=1)[:, None, None, None]  # noqa: E731
    expected = torch.einsum("bc,bchw->bhw", alpha, unit(s) - unit(loss_grad)) / s.shape[1]
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-6)
    for p in model.parameters():
        p.grad = None


@pytest.mark.parametrize("backbone", backbone_names())
def test_every_backbone_has_valid_taps_and_an_mnpos_layer(backbone: str) -> None:
    """The registry's branch taps follow METHOD.md §10.5 (shallow at twice the final
    resolution, middle and deep at it) and its MNPOs layer gives maps at the final resolution
    or finer, for every backbone."""
    entry = backbone_entry(backbone)
    model = _model(backbone, 3)
    images, classes = torch.randn(1, 3, 128, 128), torch.tensor([1])
    with torch.no_grad():
        out = model(images, taps=entry.branch_taps)
    final = out.features.shape[-1]
    shallow, middle, deep = (out.taps[name].shape[-1] for name in entry.branch_taps)
    assert (shallow, middle, deep) == (2 * final, final, final)
    assert out.branch_features is not None and out.branch_features.shape == out.features.shape
    maps = resolve_variant({"kind": "mnpos"})(model, out, images, classes)
    assert maps.shape[-1] >= final and torch.isfinite(maps).all() and maps.abs().sum() > 0


def test_registered_variants_dispatch_and_pick_the_layer_per_backbone() -> None:
    model = _model("efficientnet-lite0", 3)
    images, classes = torch.randn(1, 3, 64, 64), torch.tensor([2])
    with torch.no_grad():
        out = model(images)
    fused = resolve_variant({"kind": "mnpo", "a": 2, "b": 1})(model, out, images, classes)
    torch.testing.assert_close(fused, mnpo_maps(out, model.fc.weight, classes, 64, 2, 1))
    mapped = {"kind": "mnpos", "layer": {"efficientnet-lite0": "stage3", "vgg16": "conv4_2"}}
    assert resolve_variant(mapped)(model, out, images, classes).shape == (1, 8, 8)
    assert resolve_variant({"kind": "mnpos"})(model, out, images, classes).shape == (1, 4, 4)
    with pytest.raises(ValueError, match="no MNPOs layer given for backbone 'efficientnet-lite0'"):
        resolve_variant({"kind": "mnpos", "layer": {"vgg16": "conv5_2"}})(
            model, out, images, classes
        )
    single = _model("efficientnet-lite0", 3, head="cam")
    with torch.no_grad():
        plain = single(images)
    torch.testing.assert_close(
        resolve_variant({"kind": "mnpo", "a": 1, "b": 1})(single, plain, images, classes),
        mnpo_maps(plain, single.fc.weight, classes, 64, 1, 1),
    )
    cam = class_activation_maps(plain.features, single.fc.weight, classes)
    assert cam.shape == (1, 4, 4)
