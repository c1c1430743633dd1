"""Staging ImageNet weights: checksums from torchvision-style names, missing files, the record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mnpo import grid
from mnpo.models.staging import (
    STAGED,
    checksum_status,
    file_sha256,
    name_hash_prefix,
    stage_weights,
    staged_weights,
)
from mnpo.models.weights import WeightsError


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A torch hub cache with nothing in it (no downloaded weights can leak into the test)."""
    home = tmp_path / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home / "hub" / "checkpoints"


def test_name_hash_prefix() -> None:
    assert name_hash_prefix("vgg16-397923af.pth") == "397923af"
    assert name_hash_prefix("efficientnet-lite0-57934424.pth") == "57934424"
    assert name_hash_prefix("my_vgg16.pth") is None
    assert name_hash_prefix("vgg16-39792.pth") is None


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: several read chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_bundled_efficientnet_weights_are_verified_and_staged(
    tmp_path: Path, empty_hub: Path
) -> None:
    out = tmp_path / "weights" / "efficientnet-lite0"
    record = stage_weights("efficientnet-lite0", None, out, required=True)
    assert record["file"] == "efficientnet-lite0-57934424.pth"
    assert record["checksum"] == "verified"
    assert record["sha256"].startswith("57934424")
    staged = staged_weights(out)
    assert staged == out / "efficientnet-lite0-57934424.pth"
    assert file_sha256(staged) == record["sha256"]
    assert json.loads((out / STAGED).read_text()) == record


def test_corrupt_file_with_known_name_is_rejected(tmp_path: Path, empty_hub: Path) -> None:
    bad = tmp_path / "resnet18-f37072fd.pth"
    bad.write_bytes(b"truncated download")
    with pytest.raises(WeightsError, match=r"resnet18-f37072fd\.pth.*does not start with f37072fd"):
        stage_weights("resnet18", bad, tmp_path / "out", required=True)
    assert not (tmp_path / "out" / STAGED).exists()


def test_own_weights_file_is_staged_as_unknown_checksum(tmp_path: Path) -> None:
    own = tmp_path / "my_resnet18.pth"
    own.write_bytes(b"weights trained elsewhere")
    sha = file_sha256(own)
    assert checksum_status("resnet18", own, sha) == "unknown"
    named = tmp_path / f"resnet18-{sha[:8]}.pth"
    own.rename(named)
    assert checksum_status("resnet18", named, sha) == "unknown"


def test_missing_required_weights_name_the_expected_file(tmp_path: Path, empty_hub: Path) -> None:
    with pytest.raises(WeightsError, match=r"resnet18-f37072fd\.pth.*searched .*checkpoints"):
        stage_weights("resnet18", None, tmp_path / "out", required=True)


def test_missing_optional_weights_record_from_scratch(tmp_path: Path, empty_hub: Path) -> None:
    out = tmp_path / "out"
    record = stage_weights("resnet18", None, out, required=False)
    assert record["file"] is None
    assert staged_weights(out) is None


def test_staged_weights_without_record_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="staged.json: missing"):
        staged_weights(tmp_path)


def test_weight_requests_per_backbone() -> None:
    config = {
        "models": {
            "r-cam": {"backbone": "resnet18", "head": "cam", "allow_scratch": True},
            "r-mnpo": {"backbone": "resnet18", "head": "mnpo", "init_from": "r-cam"},
            "e-cam": {"backbone": "efficientnet-lite0", "head": "cam"},
        }
    }
    assert grid.weight_requests(config) == {
        "resnet18": {"configured": None, "required": False},
        "efficientnet-lite0": {"configured": None, "required": True},
    }
    config["models"]["r-other"] = {"backbone": "resnet18", "head": "cam", "weights": "/w.pth"}
    with pytest.raises(ValueError, match="models.r-other.weights"):
        grid.weight_requests(config)
