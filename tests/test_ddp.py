"""Two training processes (torchrun, DDP, gloo on the CPU) against one, resuming mid-run.

VGG16 with the ``cam`` head has no BatchNorm, so two processes that each see half of every
global batch must reach the one-process weights up to float rounding: DDP averages the two
half-batch mean gradients, which is the global-batch mean gradient. (BatchNorm models would
differ on the CPU, where torch has no SyncBatchNorm; on CUDA ``sync_batchnorm`` makes them agree
too.) Tolerance: the two-process weights differ from the one-process ones by at most 1e-4 of
what epoch 2 changed (float32 sums in another order differ by ~1e-7 relative).
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from mnpo import steps

DATASET = {
    "kind": "synthetic",
    "num_classes": 2,
    "generator": {"images_per_class": {"train": 4, "val": 2, "test": 1}, "image_size": 40},
    "input_size": 32,
    "resize_size": 36,
    "train": {"epochs": 2, "batch_size": 4, "lr": 0.05, "lr_decay_epochs": []},
}
OUTPUTS = (("best", "pt"), ("last", "pt"), ("history", "csv"))


def _outputs(folder: Path) -> dict[str, Path]:
    return {name: folder / f"{name}.{ext}" for name, ext in OUTPUTS}


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _norm(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return float(torch.sqrt(sum(((a[k] - b[k]).double() ** 2).sum() for k in a)))


def test_two_processes_resume_and_match_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # no ImageNet weights: He init
    (tmp_path / "weights").mkdir()
    model = {"backbone": "vgg16", "head": "cam", "allow_scratch": True}
    model["weights"] = str(tmp_path / "weights")
    manifest = steps.prepare_dataset("tiny", DATASET, tmp_path / "data")

    def train(folder: Path, **performance: Any) -> None:
        steps.train_model(
            manifest, DATASET, model, 3, _outputs(folder), threads=2, performance=performance
        )

    train(tmp_path / "one")  # one process, 2 epochs of 2 steps

    real_meter, calls = steps.gt_known_accuracy, []

    def meter_that_dies_in_epoch_2(*args: Any, **kwargs: Any) -> float:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_meter(*args, **kwargs)

    monkeypatch.setattr(steps, "gt_known_accuracy", meter_that_dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "two")  # one process, killed in epoch 2: resume.pt of epoch 1 left
    monkeypatch.setattr(steps, "gt_known_accuracy", real_meter)
    after_epoch_1 = _state(tmp_path / "two" / "resume.pt")
    train(tmp_path / "two", gpus=2)  # resumed by two processes (torchrun) for epoch 2

    assert not (tmp_path / "two" / "resume.pt").exists()
    one, two = _state(tmp_path / "one" / "last.pt"), _state(tmp_path / "two" / "last.pt")
    assert one.keys() == two.keys()
    assert _norm(one, two) <= 1e-4 * _norm(one, after_epoch_1)
    columns = ["epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1"]
    h_one = pd.read_csv(tmp_path / "one" / "history.csv")[columns]
    h_two = pd.read_csv(tmp_path / "two" / "history.csv")[columns]
    pd.testing.assert_frame_equal(h_one.iloc[:1], h_two.iloc[:1])  # epoch 1: same process
    np.testing.assert_allclose(h_two.to_numpy(), h_one.to_numpy(), rtol=1e-5)
    provenance = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["provenance"]
    assert provenance["training"] == "cpu x2, fp32, channels_last, SGD"
