"""The synthetic dataset: deterministic, boxes tight around masks, a class-specific part."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from mnpo.data.metadata import read_metadata
from mnpo.data.synthetic import SyntheticConfig, generate_synthetic, part_colour

TINY = {"num_classes": 3, "images_per_class": {"train": 3, "val": 1}, "image_size": 64}


def _generate(root: Path, **overrides) -> Path:
    generate_synthetic(root, SyntheticConfig.from_dict({**TINY, **overrides}))
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = _files(_generate(tmp_path / "a"))
    assert a == _files(_generate(tmp_path / "b"))
    assert a != _files(_generate(tmp_path / "c", seed=1))


def test_boxes_are_the_tight_boxes_of_the_masks(tmp_path: Path) -> None:
    root = _generate(tmp_path, objects_per_image=2)
    meta = read_metadata(root / "metadata" / "train", num_classes=3)
    for image_id in meta.image_ids:
        mask = cv2.imread(str(root / "masks" / image_id), cv2.IMREAD_GRAYSCALE) > 0
        ys, xs = np.nonzero(mask)
        boxes = np.array(meta.boxes[image_id])
        assert len(boxes) == 2
        union = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
        assert union == (xs.min(), ys.min(), xs.max(), ys.max())


def test_the_part_colour_identifies_the_class(tmp_path: Path) -> None:
    root = _generate(tmp_path)
    meta = read_metadata(root / "metadata" / "train")
    for image_id in meta.image_ids:
        image = cv2.cvtColor(cv2.imread(str(root / "images" / image_id)), cv2.COLOR_BGR2RGB)
        colours = {k: np.array(part_colour(k, 3), float) for k in range(3)}
        hits = {
            k: int(sum((np.abs(image - s * c).max(2) < 3).sum() for s in (0.85, 1.0)))
            for k, c in colours.items()
        }
        assert max(hits, key=hits.get) == meta.class_labels[image_id]


def test_unknown_generator_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown synthetic generator keys \\['colour'\\]"):
        SyntheticConfig.from_dict({"colour": 1})
