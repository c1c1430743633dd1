"""wsolevaluation metadata: round trip, upstream line format, and clear errors on bad input."""

from pathlib import Path

import pytest

from mnpo.data.metadata import (
    MaskAnnotation,
    Metadata,
    MetadataError,
    read_metadata,
    write_metadata,
)


def _sample() -> Metadata:
    ids = ("a/1.png", "a/2.png", "b/3.png")
    return Metadata(
        image_ids=ids,
        class_labels={"a/1.png": 0, "a/2.png": 0, "b/3.png": 1},
        image_sizes={"a/1.png": (10, 20), "a/2.png": (30, 30), "b/3.png": (5, 7)},
        boxes={
            "a/1.png": ((0, 1, 9, 19),),
            "a/2.png": ((1, 1, 2, 2), (3, 3, 29, 29)),
            "b/3.png": ((4, 6, 4, 6),),
        },
        masks={
            "a/1.png": MaskAnnotation(("m/1.png", "m/1b.png"), "m/1i.png"),
            "b/3.png": MaskAnnotation(("m/3.png",)),
        },
    )


def test_round_trip_and_upstream_format(tmp_path: Path) -> None:
    meta = _sample()
    write_metadata(tmp_path, meta)
    assert read_metadata(tmp_path, num_classes=2) == meta
    loc = (tmp_path / "localization.txt").read_text()
    assert loc.split("\n") == [
        "a/1.png,0,1,9,19",
        "a/2.png,1,1,2,2",
        "a/2.png,3,3,29,29",
        "b/3.png,4,6,4,6",
    ]
    assert not loc.endswith("\n"), "upstream files have no trailing newline"
    assert (tmp_path / "masks.txt").read_text().split("\n") == [
        "a/1.png,m/1.png,m/1i.png",
        "a/1.png,m/1b.png,",
        "b/3.png,m/3.png,",
    ]


def test_mask_only_dataset_uses_localization_file(tmp_path: Path) -> None:
    meta = _sample()
    masks_only = Metadata(meta.image_ids, meta.class_labels, meta.image_sizes, {}, meta.masks)
    write_metadata(tmp_path, masks_only)
    assert not (tmp_path / "masks.txt").exists()
    back = read_metadata(tmp_path)
    assert back.masks == meta.masks and not back.has_boxes


def test_trailing_newline_and_crlf_are_accepted(tmp_path: Path) -> None:
    write_metadata(tmp_path, _sample())
    for name in ("image_ids.txt", "class_labels.txt"):
        path = tmp_path / name
        path.write_text(path.read_text().replace("\n", "\r\n") + "\r\n")
    assert read_metadata(tmp_path).image_ids == _sample().image_ids


@pytest.mark.parametrize(
    ("name", "line_no", "bad_line", "message"),
    [
        ("class_labels.txt", 2, "a/2.png,0,7", "expected 2 comma-separated fields, got 3"),
        ("class_labels.txt", 3, "b/3.png,x", "class label is not an integer"),
        ("class_labels.txt", 3, "b/3.png,2", "out of range 0..1"),
        ("image_sizes.txt", 1, "a/1.png,10", "expected 3 comma-separated fields"),
        ("image_sizes.txt", 1, "a/1.png,0,20", "image size must be positive"),
        ("localization.txt", 1, "a/1.png,0,1,11,19", "lies outside the 10x20 image"),
        ("localization.txt", 1, "a/1.png,5,1,4,19", "needs 0 <= x0 <= x1"),
        ("localization.txt", 1, "zzz.png,0,0,1,1", "image id 'zzz.png' is not in image_ids.txt"),
        ("image_ids.txt", 3, "a/1.png", "duplicate image id 'a/1.png' (first on line 1)"),
    ],
)
def test_bad_line_names_file_and_line(
    tmp_path: Path, name: str, line_no: int, bad_line: str, message: str
) -> None:
    write_metadata(tmp_path, _sample())
    path = tmp_path / name
    lines = path.read_text().split("\n")
    lines[line_no - 1] = bad_line
    path.write_text("\n".join(lines))
    with pytest.raises(MetadataError) as err:
        read_metadata(tmp_path, num_classes=2)
    assert f"{path}:{line_no}:" in str(err.value)
    assert message in str(err.value)


def test_missing_file_and_missing_label(tmp_path: Path) -> None:
    write_metadata(tmp_path, _sample())
    labels = tmp_path / "class_labels.txt"
    labels.write_text("\n".join(labels.read_text().split("\n")[:2]))
    with pytest.raises(
        MetadataError, match=r"class_labels.txt: no class label for image id 'b/3.png'"
    ):
        read_metadata(tmp_path)
    labels.unlink()
    with pytest.raises(MetadataError, match=r"class_labels.txt: metadata file not found"):
        read_metadata(tmp_path)
