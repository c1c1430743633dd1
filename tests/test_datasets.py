"""Dataset and loaders: labels, clear errors for missing / corrupt images, seeded order."""

from pathlib import Path

import pytest
import torch

from mnpo.data.datasets import WSOLDataset, check_images, make_loader
from mnpo.data.images import ImageError
from mnpo.data.metadata import read_metadata
from mnpo.data.synthetic import SyntheticConfig, generate_synthetic
from mnpo.data.transforms import eval_transform, tencrop_transform, train_transform


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    config = {"num_classes": 2, "images_per_class": {"train": 4}, "image_size": 48}
    generate_synthetic(root, SyntheticConfig.from_dict(config))
    return root


def test_items_and_transforms(tiny: Path) -> None:
    meta = read_metadata(tiny / "metadata" / "train")
    data = WSOLDataset(meta, tiny / "images", eval_transform(32))
    image, label, index = data[5]
    assert image.shape == (3, 32, 32) and label == meta.class_labels[meta.image_ids[index]]
    assert WSOLDataset(meta, tiny / "images", tencrop_transform(32, 40))[0][0].shape == (
        10,
        3,
        32,
        32,
    )


def test_missing_and_corrupt_images_name_the_file(tiny: Path, tmp_path: Path) -> None:
    meta = read_metadata(tiny / "metadata" / "train")
    with pytest.raises(ImageError, match="image file not found for image id 'train/000/0000.png'"):
        check_images(meta, tmp_path)
    corrupt = tmp_path / "train/000/0000.png"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"\x89PNG broken")
    with pytest.raises(ImageError, match=r"0000.png: not a readable image .*image id"):
        WSOLDataset(meta, tmp_path, eval_transform(32))[0]


def test_loader_order_and_augmentation_are_seeded(tiny: Path) -> None:
    meta = read_metadata(tiny / "metadata" / "train")
    data = WSOLDataset(meta, tiny / "images", train_transform(32, 40))

    def first(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(seed)
        images, _, index = next(iter(make_loader(data, 4, shuffle=True, seed=seed)))
        return images, index

    a, b, c = first(1), first(1), first(2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
