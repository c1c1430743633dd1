"""CAM formula and weight post-processing on hand-built tensors."""

import pytest
import torch

from mnpo.cams.cam import class_activation_maps, postprocess_weights
from mnpo.cams.registry import resolve_variant, variant_kinds


def test_postprocess_weights_scales_by_sign() -> None:
    w = torch.tensor([2.0, -1.0, 0.0, 0.5])
    out = postprocess_weights(w, a=10, b=5)
    assert torch.equal(out, torch.tensor([20.0, -5.0, 0.0, 5.0]))
    assert torch.equal(w, torch.tensor([2.0, -1.0, 0.0, 0.5])), "input not mutated"


def test_cam_is_weighted_channel_mean_of_the_given_class() -> None:
    features = torch.zeros(2, 3, 2, 2)
    features[0, 0] = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    features[0, 1] = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    features[1, 2] = torch.tensor([[0.0, 0.0], [3.0, 1.0]])
    weights = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]])
    maps = class_activation_maps(features, weights, torch.tensor([0, 1]))
    expected = torch.tensor([[[1.0, -2.0], [0.0, 0.0]], [[0.0, 0.0], [6.0, 2.0]]]) / 3
    torch.testing.assert_close(maps, expected)
    post = class_activation_maps(features, weights, torch.tensor([0, 1]), a=4, b=2)
    torch.testing.assert_close(post[0], torch.tensor([[4.0, -4.0], [0.0, 0.0]]) / 3)


def test_variant_registry_binds_parameters_and_rejects_unknown() -> None:
    assert "cam" in variant_kinds()

    class Net:
        fc = torch.nn.Linear(3, 2, bias=False)

    class Output:
        features = torch.rand(1, 3, 4, 4)

    Net.fc.weight.data = torch.tensor([[1.0, -2.0, 3.0], [0.0, 1.0, 0.0]])
    fn = resolve_variant({"kind": "cam", "a": 2.0, "b": 1.0})
    got = fn(Net(), Output(), torch.zeros(1), torch.tensor([0]))
    want = class_activation_maps(Output.features, Net.fc.weight, torch.tensor([0]), a=2, b=1)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="unknown score-map kind 'gradcam'"):
        resolve_variant({"kind": "gradcam"})
    with pytest.raises(ValueError, match="unknown \\['c'\\]"):
        resolve_variant({"kind": "cam", "c": 1.0})


def test_schema_enumerations_equal_the_registries() -> None:
    from pathlib import Path

    import yaml

    from mnpo import grid
    from mnpo.models import HEADS, backbone_names

    schema = yaml.safe_load(
        (Path(__file__).parent.parent / "workflow/schemas/config.schema.yaml").read_text()
    )
    model = schema["properties"]["models"]["additionalProperties"]["properties"]
    method = schema["properties"]["methods"]["additionalProperties"]["properties"]
    variant = method["variants"]["additionalProperties"]["properties"]
    assert tuple(model["backbone"]["enum"]) == backbone_names()
    assert tuple(model["head"]["enum"]) == HEADS == grid.HEADS
    assert tuple(method["heads"]["items"]["enum"]) == HEADS
    assert tuple(variant["kind"]["enum"]) == variant_kinds()
