"""Converters from the official dataset layouts (CUB, ILSVRC, OpenImages) to wsolevaluation's
metadata: exact output on miniature archives built here, one clear error per bad archive, nothing
half-written, the ``mnpo prepare`` command line and the pipeline step."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from PIL import Image

from mnpo.cli import SCHEMA, main
from mnpo.data.manifest import read_manifest
from mnpo.data.metadata import MetadataError, read_metadata
from mnpo.data.prepare import (
    Prepared,
    convert,
    prepare_cub,
    prepare_ilsvrc,
    prepare_openimages,
)
from mnpo.data.prepare import write_prepared as write
from mnpo.steps import prepare_dataset

SPLIT_FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


def _image(path: Path, size: tuple[int, int], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix == ".png" else "JPEG"
    Image.new(mode, size, 128).save(path, format=fmt)


def _write(path: Path, lines: list[str], end: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + end)


def _files(split: Path) -> dict[str, str]:
    return {name: (split / name).read_text() for name in SPLIT_FILES if (split / name).exists()}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- CUB
A, L, S = "001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"
CUB_IMAGES = [  # id, path, (w, h), class, is_train, "x y width height"
    ("1", f"{A}/Black_Footed_Albatross_0046_18.jpg", (400, 340), 1, 1, "60.0 27.0 325.0 304.0"),
    ("2", f"{A}/Black_Footed_Albatross_0002_55.jpg", (40, 30), 1, 1, "3.7 2.2 20.5 10.9"),
    ("3", f"{A}/Black_Footed_Albatross_0009_34.jpg", (40, 30), 1, 0, "0.0 0.0 39.0 29.0"),
    ("4", f"{L}/Laysan_Albatross_0002_1027.jpg", (50, 40), 2, 1, "10.5 5.5 30.2 20.9"),
    ("5", f"{L}/Laysan_Albatross_0003_1033.jpg", (50, 40), 2, 1, "1.0 1.0 1.0 1.0"),
    ("6", f"{L}/Laysan_Albatross_0082_524.jpg", (50, 40), 2, 0, "12.9 7.1 0.4 0.4"),
    ("7", f"{S}/Sooty_Albatross_0001_1071.jpg", (32, 48), 3, 1, "2.0 3.0 20.0 40.0"),
    ("8", f"{S}/Sooty_Albatross_0002_796395.jpg", (32, 48), 3, 1, "5.5 6.5 10.25 11.75"),
    ("9", f"{S}/Sooty_Albatross_0003_1078.jpg", (32, 48), 3, 0, "0.0 0.0 31.9 47.9"),
]


def make_cub(tmp_path: Path) -> Path:
    """A CUB_200_2011/ folder in the official layout: 3 classes, 9 images, float boxes."""
    root = tmp_path / "CUB_200_2011"
    for _, path, size, *_ in CUB_IMAGES:
        _image(root / "images" / path, size)
    _write(root / "images.txt", [f"{i} {p}" for i, p, *_ in CUB_IMAGES])
    _write(root / "image_class_labels.txt", [f"{i} {c}" for i, _, _, c, _, _ in CUB_IMAGES])
    _write(root / "train_test_split.txt", [f"{i} {t}" for i, _, _, _, t, _ in CUB_IMAGES])
    _write(root / "bounding_boxes.txt", [f"{i} {b}" for i, *_, b in CUB_IMAGES])
    _write(root / "classes.txt", [f"1 {A}", f"2 {L}", f"3 {S}"])
    return root


def make_cubv2(root: Path, tmp_path: Path) -> Path:
    """A CUBV2-style val split folder; its images unpacked into the CUB image folder."""
    _image(root / "images" / A / "30107316117.jpg", (20, 24))
    _image(root / "images" / S / "31609079166.jpg", (36, 18))
    folder = tmp_path / "metadata" / "CUB" / "val"
    ids = [f"{A}/30107316117.jpg", f"{S}/31609079166.jpg"]
    _write(folder / "image_ids.txt", ids, end="")
    _write(folder / "class_labels.txt", [f"{ids[0]},0", f"{ids[1]},2"], end="")
    _write(folder / "image_sizes.txt", [f"{ids[0]},20,24", f"{ids[1]},36,18"], end="")
    _write(folder / "localization.txt", [f"{ids[0]},1,2,19,23", f"{ids[1]},0,0,5,5"], end="")
    return folder


CUB_TEST = {
    "image_ids.txt": f"{A}/Black_Footed_Albatross_0009_34.jpg\n"
    f"{L}/Laysan_Albatross_0082_524.jpg\n"
    f"{S}/Sooty_Albatross_0003_1078.jpg",
    "class_labels.txt": f"{A}/Black_Footed_Albatross_0009_34.jpg,0\n"
    f"{L}/Laysan_Albatross_0082_524.jpg,1\n"
    f"{S}/Sooty_Albatross_0003_1078.jpg,2",
    "image_sizes.txt": f"{A}/Black_Footed_Albatross_0009_34.jpg,40,30\n"
    f"{L}/Laysan_Albatross_0082_524.jpg,50,40\n"
    f"{S}/Sooty_Albatross_0003_1078.jpg,32,48",
    "localization.txt": f"{A}/Black_Footed_Albatross_0009_34.jpg,0,0,39,29\n"
    f"{L}/Laysan_Albatross_0082_524.jpg,12,7,13,7\n"
    f"{S}/Sooty_Albatross_0003_1078.jpg,0,0,31,47",
}
CUB_TRAIN_BOXES = [
    f"{A}/Black_Footed_Albatross_0046_18.jpg,60,27,385,331",
    f"{A}/Black_Footed_Albatross_0002_55.jpg,3,2,24,13",
    f"{L}/Laysan_Albatross_0002_1027.jpg,10,5,40,26",
    f"{L}/Laysan_Albatross_0003_1033.jpg,1,1,2,2",
    f"{S}/Sooty_Albatross_0001_1071.jpg,2,3,22,43",
    f"{S}/Sooty_Albatross_0002_796395.jpg,5,6,15,18",
]


def test_cub_with_cubv2_val_converts_to_exact_metadata(tmp_path: Path) -> None:
    root = make_cub(tmp_path)
    cubv2 = make_cubv2(root, tmp_path)
    out = tmp_path / "out"
    write(out, prepare_cub(root, val_metadata=cubv2))
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "test", "train", "val"]
    assert _files(out / "test") == CUB_TEST
    train = _files(out / "train")
    assert train["localization.txt"] == "\n".join(CUB_TRAIN_BOXES)
    assert train["image_ids.txt"] == "\n".join(line.split(",")[0] for line in CUB_TRAIN_BOXES)
    assert train["class_labels.txt"].split("\n")[0] == f"{A}/Black_Footed_Albatross_0046_18.jpg,0"
    assert (
        train["image_sizes.txt"].split("\n")[0] == f"{A}/Black_Footed_Albatross_0046_18.jpg,400,340"
    )
    assert _files(out / "val") == _files(cubv2)
    report = json.loads((out / "report.json").read_text())
    assert report["class_names"] == [A, L, S]
    assert report["splits"]["train"]["images_per_class"] == [2, 2, 2]
    assert report["splits"]["val"]["images_per_class"] == [1, 0, 1]
    for split in ("train", "val", "test"):
        counts = report["splits"][split]
        assert counts["images_missing"] == 0 and counts["boxes"]["outside_image"] == 0
    assert report["splits"]["test"]["boxes"] == {
        "total": 3,
        "images_with_boxes": 3,
        "outside_image": 0,
        "at_far_edge": 0,
        "per_image": {"min": 1, "max": 1, "mean": 1.0},
    }


def test_cub_box_reaching_the_far_edge_is_kept_and_counted(tmp_path: Path) -> None:
    root = make_cub(tmp_path)
    _edit_line(root / "bounding_boxes.txt", 3, "3 0.0 0.0 40.0 29.0")
    out = tmp_path / "out"
    write(out, prepare_cub(root, val_per_class=1, val_seed=0))
    report = json.loads((out / "report.json").read_text())
    assert sum(split["boxes"]["at_far_edge"] for split in report["splits"].values()) == 1
    lines = [
        line
        for split in report["splits"]
        for line in (out / split / "localization.txt").read_text().splitlines()
    ]
    assert sum(line.endswith(",0,0,40,29") for line in lines) == 1


def test_cub_holdout_val_is_seeded_and_taken_from_train_only(tmp_path: Path) -> None:
    root = make_cub(tmp_path)
    first = prepare_cub(root, val_per_class=1, val_seed=3)
    again = prepare_cub(root, val_per_class=1, val_seed=3)
    assert first.splits == again.splits
    train, val, test = (first.splits[s] for s in ("train", "val", "test"))
    original_train = {line.split(",")[0] for line in CUB_TRAIN_BOXES}
    assert set(val.image_ids) | set(train.image_ids) == original_train
    assert not set(val.image_ids) & set(train.image_ids)
    assert sorted(val.labels()) == [0, 1, 2]
    assert test.image_ids == tuple(CUB_TEST["image_ids.txt"].split("\n"))
    assert "1 train images per class held out (seed 3)" in first.notes[0]
    seeds = {
        prepare_cub(root, val_per_class=1, val_seed=s).splits["val"].image_ids for s in range(8)
    }
    assert len(seeds) > 1, "the seed changes the hold-out"
    with pytest.raises(ValueError, match=r"class 1 \(001.Black_footed_Albatross\) has 2 train"):
        prepare_cub(root, val_per_class=2)


def test_cub_without_classes_txt_names_classes_by_folder(tmp_path: Path) -> None:
    root = make_cub(tmp_path)
    (root / "classes.txt").unlink()
    assert prepare_cub(root, val_per_class=1).class_names == [A, L, S]


def _edit_line(path: Path, number: int, text: str | None) -> None:
    """Replace (or with None delete) 1-based line ``number``; append when it is one past the end."""
    lines = path.read_text().split("\n")[:-1]
    if number == len(lines) + 1:
        lines.append(text or "")
    elif text is None:
        del lines[number - 1]
    else:
        lines[number - 1] = text
    _write(path, lines)


CUB_BREAKAGES: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "missing file",
        lambda root: (root / "bounding_boxes.txt").unlink(),
        r"CUB_200_2011/bounding_boxes.txt: file not found\. A CUB root is the official",
    ),
    (
        "missing image",
        lambda root: (root / "images" / CUB_IMAGES[2][1]).unlink(),
        r"images.txt:3: .*Black_Footed_Albatross_0009_34.jpg: image file not found",
    ),
    (
        "wrong field count",
        lambda root: _edit_line(root / "bounding_boxes.txt", 4, "4 10.5 5.5 30.2"),
        r"bounding_boxes.txt:4: expected 5 space-separated fields, got 4",
    ),
    (
        "box outside",
        lambda root: _edit_line(root / "bounding_boxes.txt", 3, "3 0.0 0.0 41.0 29.0"),
        r"bounding_boxes.txt:3: box \(0,0,41,29\) of .* is not inside its 40x30 image",
    ),
    (
        "negative box",
        lambda root: _edit_line(root / "bounding_boxes.txt", 2, "2 -0.5 2.2 20.5 10.9"),
        r"bounding_boxes.txt:2: box values must be finite and >= 0",
    ),
    (
        "not an image",
        lambda root: (root / "images" / CUB_IMAGES[4][1]).write_text("not a picture"),
        r"images.txt:5: .*Laysan_Albatross_0003_1033.jpg: not a readable image",
    ),
    (
        "duplicate id",
        lambda root: _edit_line(root / "images.txt", 10, f"2 {A}/other.jpg"),
        r"images.txt:10: duplicate image id '2' \(first on line 2\)",
    ),
    (
        "duplicate label line",
        lambda root: _edit_line(root / "image_class_labels.txt", 10, "4 2"),
        r"image_class_labels.txt:10: duplicate image id '4' \(first on line 4\)",
    ),
    (
        "id missing from a table",
        lambda root: _edit_line(root / "train_test_split.txt", 6, None),
        r"train_test_split.txt: no line for image id '6' \(listed at .*images.txt:6\)",
    ),
    (
        "unknown id",
        lambda root: _edit_line(root / "bounding_boxes.txt", 10, "99 1 1 1 1"),
        r"bounding_boxes.txt:10: image id '99' is not in images.txt",
    ),
    (
        "class out of range",
        lambda root: _edit_line(root / "image_class_labels.txt", 9, "9 4"),
        r"image_class_labels.txt:9: class id 4 of image '9' exceeds the 3 classes",
    ),
    (
        "bad split flag",
        lambda root: _edit_line(root / "train_test_split.txt", 1, "1 2"),
        r"train_test_split.txt:1: split flag must be 1 \(train\) or 0 \(test\)",
    ),
]


@pytest.mark.parametrize("existing", [False, True], ids=["no-output", "old-output"])
@pytest.mark.parametrize(
    ("breakage", "message"),
    [(b, m) for _, b, m in CUB_BREAKAGES],
    ids=[name for name, _, _ in CUB_BREAKAGES],
)
def test_bad_cub_archive_fails_with_one_located_error_and_writes_nothing(
    tmp_path: Path, breakage: Callable[[Path], None], message: str, existing: bool
) -> None:
    root = make_cub(tmp_path)
    out = tmp_path / "results" / "metadata"
    if existing:
        _write(out / "test" / "image_ids.txt", ["old"])
    before = _tree(tmp_path / "results") if existing else None
    breakage(root)
    with pytest.raises(MetadataError, match=message) as err:
        write(out, convert("cub", {"root": root, "val_per_class": 1}))
    assert "\n" not in str(err.value), "one message"
    if existing:
        assert _tree(tmp_path / "results") == before, "the old output is untouched"
        assert [p.name for p in (tmp_path / "results").iterdir()] == ["metadata"]
    else:
        assert not out.exists()


def test_output_is_replaced_whole_and_a_failed_write_leaves_the_old_one(tmp_path: Path) -> None:
    root = make_cub(tmp_path)
    out = tmp_path / "results" / "metadata"
    _write(out / "stale" / "image_ids.txt", ["old"])
    write(out, prepare_cub(root, val_per_class=1))
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "test", "train", "val"]
    before = _tree(tmp_path / "results")
    good = prepare_cub(root, val_per_class=1)
    bad = Prepared("cub", good.splits, good.class_names[:2], good.image_root)  # label 2 >= K
    with pytest.raises(MetadataError, match=r"train/class_labels.txt:3: class label 2 .* 0..1"):
        write(out, bad)
    assert _tree(tmp_path / "results") == before
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["metadata"], "no staging left"


def test_missing_root_and_cubv2_errors_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"nowhere: folder not found\. A CUB root is"):
        prepare_cub(tmp_path / "nowhere")
    root = make_cub(tmp_path)
    cubv2 = make_cubv2(root, tmp_path)
    (root / "images" / A / "30107316117.jpg").unlink()
    with pytest.raises(MetadataError, match=r"val/image_ids.txt:1: .*30107316117.jpg: image file"):
        prepare_cub(root, val_metadata=cubv2)
    _image(root / "images" / A / "30107316117.jpg", (21, 24))
    with pytest.raises(MetadataError, match=r"val/image_sizes.txt:1: size 20x24 .* header 21x24"):
        prepare_cub(root, val_metadata=cubv2)
    _image(root / "images" / A / "30107316117.jpg", (20, 24))
    _edit_line(cubv2 / "image_ids.txt", 2, f"{A}/Black_Footed_Albatross_0009_34.jpg")
    _write(
        cubv2 / "class_labels.txt",
        [f"{A}/30107316117.jpg,0", f"{A}/Black_Footed_Albatross_0009_34.jpg,0"],
    )
    _write(
        cubv2 / "image_sizes.txt",
        [f"{A}/30107316117.jpg,20,24", f"{A}/Black_Footed_Albatross_0009_34.jpg,40,30"],
    )
    _write(
        cubv2 / "localization.txt",
        [f"{A}/30107316117.jpg,1,2,19,23", f"{A}/Black_Footed_Albatross_0009_34.jpg,0,0,1,1"],
    )
    with pytest.raises(MetadataError, match=r"val/image_ids.txt:2: .* is also in split 'test'"):
        prepare_cub(root, val_metadata=cubv2)


# ----------------------------------------------------------------------------- ILSVRC
WNIDS = ("n01440764", "n01443537", "n01484850")
ILSVRC_TRAIN = [  # wnid, file, size
    ("n01440764", "n01440764_10026.JPEG", (30, 20)),
    ("n01440764", "n01440764_2.JPEG", (20, 30)),
    ("n01443537", "n01443537_1.JPEG", (16, 16)),
    ("n01484850", "n01484850_7.JPEG", (24, 12)),
]
ILSVRC_VAL = [  # file stem, size, wnid, boxes
    ("ILSVRC2012_val_00000001", (50, 40), "n01443537", [(1, 2, 30, 20), (0, 0, 49, 39)]),
    ("ILSVRC2012_val_00000002", (25, 35), "n01440764", [(3, 4, 10, 34)]),
    ("ILSVRC2012_val_00000003", (20, 20), "n01484850", [(5, 5, 5, 5)]),
]


def _voc(stem: str, size: tuple[int, int], wnid: str, boxes: list[tuple[int, ...]]) -> str:
    objects = "".join(
        f"<object><name>{wnid}</name><pose>Unspecified</pose><bndbox><xmin>{b[0]}</xmin>"
        f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for b in boxes
    )
    return (
        f"<annotation><folder>val</folder><filename>{stem}</filename><size><width>{size[0]}"
        f"</width><height>{size[1]}</height><depth>3</depth></size>{objects}</annotation>"
    )


def make_ilsvrc(tmp_path: Path, boxes: str) -> Path:
    """ILSVRC2012 train/ and val/ with boxes as per-image XML files or Kaggle's CSV."""
    root = tmp_path / "ILSVRC"
    for wnid, name, size in ILSVRC_TRAIN:
        _image(root / "train" / wnid / name, size)
    rows = ["ImageId,PredictionString"]
    for stem, size, wnid, found in ILSVRC_VAL:
        _image(root / "val" / f"{stem}.JPEG", size)
        if boxes == "xml":
            (root / "val" / f"{stem}.xml").write_text(_voc(stem, size, wnid, found))
        rows.append(
            f"{stem}," + "".join(f"{wnid} {x0} {y0} {x1} {y1} " for x0, y0, x1, y1 in found)
        )
    if boxes == "csv":
        _write(root / "LOC_val_solution.csv", rows)
    return root


ILSVRC_TEST = {
    "image_ids.txt": "val/ILSVRC2012_val_00000001.JPEG\nval/ILSVRC2012_val_00000002.JPEG\n"
    "val/ILSVRC2012_val_00000003.JPEG",
    "class_labels.txt": "val/ILSVRC2012_val_00000001.JPEG,1\nval/ILSVRC2012_val_00000002.JPEG,0\n"
    "val/ILSVRC2012_val_00000003.JPEG,2",
    "image_sizes.txt": "val/ILSVRC2012_val_00000001.JPEG,50,40\n"
    "val/ILSVRC2012_val_00000002.JPEG,25,35\nval/ILSVRC2012_val_00000003.JPEG,20,20",
    "localization.txt": "val/ILSVRC2012_val_00000001.JPEG,1,2,30,20\n"
    "val/ILSVRC2012_val_00000001.JPEG,0,0,49,39\nval/ILSVRC2012_val_00000002.JPEG,3,4,10,34\n"
    "val/ILSVRC2012_val_00000003.JPEG,5,5,5,5",
}
ILSVRC_TRAIN_FILES = {
    "image_ids.txt": "train/n01440764/n01440764_10026.JPEG\ntrain/n01440764/n01440764_2.JPEG\n"
    "train/n01443537/n01443537_1.JPEG\ntrain/n01484850/n01484850_7.JPEG",
    "class_labels.txt": "train/n01440764/n01440764_10026.JPEG,0\n"
    "train/n01440764/n01440764_2.JPEG,0\ntrain/n01443537/n01443537_1.JPEG,1\n"
    "train/n01484850/n01484850_7.JPEG,2",
    "image_sizes.txt": "train/n01440764/n01440764_10026.JPEG,30,20\n"
    "train/n01440764/n01440764_2.JPEG,20,30\ntrain/n01443537/n01443537_1.JPEG,16,16\n"
    "train/n01484850/n01484850_7.JPEG,24,12",
}


def make_imagenetv2(root: Path, tmp_path: Path) -> Path:
    """ImageNetV2 images under root/val2/<class>/ and upstream-style val metadata."""
    _image(root / "val2" / "0" / "0.jpeg", (30, 30))
    _image(root / "val2" / "2" / "0.jpeg", (10, 40))
    folder = tmp_path / "metadata" / "ILSVRC" / "val"
    _write(folder / "image_ids.txt", ["val2/0/0.jpeg", "val2/2/0.jpeg"])
    _write(folder / "class_labels.txt", ["val2/0/0.jpeg,0", "val2/2/0.jpeg,2"])
    _write(folder / "image_sizes.txt", ["val2/0/0.jpeg,30,30", "val2/2/0.jpeg,10,40"])
    _write(folder / "localization.txt", ["val2/0/0.jpeg,0,0,29,29", "val2/2/0.jpeg,1,1,9,39"])
    return folder


@pytest.mark.parametrize("boxes", ["xml", "csv"])
def test_ilsvrc_xml_and_csv_convert_to_exact_metadata(tmp_path: Path, boxes: str) -> None:
    root = make_ilsvrc(tmp_path, boxes)
    val = make_imagenetv2(root, tmp_path)
    out = tmp_path / "out"
    prepared = prepare_ilsvrc(root, val_metadata=val)
    write(out, prepared)
    assert list(prepared.splits) == ["train", "val", "test"]
    assert prepared.image_root == root and prepared.class_names == list(WNIDS)
    assert _files(out / "test") == ILSVRC_TEST
    assert _files(out / "train") == ILSVRC_TRAIN_FILES, "train has no localization.txt"
    assert _files(out / "val") == {
        "image_ids.txt": "val2/0/0.jpeg\nval2/2/0.jpeg",
        "class_labels.txt": "val2/0/0.jpeg,0\nval2/2/0.jpeg,2",
        "image_sizes.txt": "val2/0/0.jpeg,30,30\nval2/2/0.jpeg,10,40",
        "localization.txt": "val2/0/0.jpeg,0,0,29,29\nval2/2/0.jpeg,1,1,9,39",
    }
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["format"] == boxes
    assert report["splits"]["test"]["boxes"]["per_image"] == {"min": 1, "max": 2, "mean": 4 / 3}
    assert report["splits"]["train"]["boxes"]["total"] == 0


def test_ilsvrc_synset_file_sets_the_class_order_and_val_is_optional(tmp_path: Path) -> None:
    root = make_ilsvrc(tmp_path, "csv")
    _write(
        root / "LOC_synset_mapping.txt",
        [
            "n01484850 great white shark, white shark",
            "n01440764 tench, Tinca tinca",
            "n01443537 goldfish, Carassius auratus",
        ],
    )
    prepared = prepare_ilsvrc(root)
    assert prepared.class_names == ["great white shark", "tench", "goldfish"]
    assert list(prepared.splits) == ["train", "test"]
    assert "no val split" in prepared.notes[0]
    assert prepared.splits["test"].labels() == [2, 1, 0]
    _write(root / "LOC_synset_mapping.txt", ["n01484850 shark", "n01440764 tench"])
    with pytest.raises(MetadataError, match=r"train/n01443537: class folder is not a synset"):
        prepare_ilsvrc(root)


ILSVRC_BREAKAGES: list[tuple[str, str, Callable[[Path], None], str]] = [
    (
        "csv field count",
        "csv",
        lambda root: _edit_line(
            root / "LOC_val_solution.csv", 3, "ILSVRC2012_val_00000002,n01440764 3 4 10"
        ),
        r"LOC_val_solution.csv:3: PredictionString must repeat 'wnid xmin ymin xmax ymax'",
    ),
    (
        "csv box outside",
        "csv",
        lambda root: _edit_line(
            root / "LOC_val_solution.csv", 3, "ILSVRC2012_val_00000002,n01440764 3 4 26 34"
        ),
        r"LOC_val_solution.csv:3: box \(3,4,26,34\) of 'val/ILSVRC2012_val_00000002.JPEG' is not "
        r"inside its 25x35 image",
    ),
    (
        "csv duplicate id",
        "csv",
        lambda root: _edit_line(
            root / "LOC_val_solution.csv", 5, "ILSVRC2012_val_00000001,n01443537 1 1 2 2"
        ),
        r"LOC_val_solution.csv:5: duplicate ImageId 'ILSVRC2012_val_00000001' \(first on line 2\)",
    ),
    (
        "csv row without image",
        "csv",
        lambda root: (root / "val" / "ILSVRC2012_val_00000003.JPEG").unlink(),
        r"LOC_val_solution.csv:4: no image .*ILSVRC2012_val_00000003\.\* for this row",
    ),
    (
        "xml missing",
        "xml",
        lambda root: (root / "val" / "ILSVRC2012_val_00000002.xml").unlink(),
        r"ILSVRC2012_val_00000002.xml: file not found",
    ),
    (
        "xml box outside",
        "xml",
        lambda root: (root / "val" / "ILSVRC2012_val_00000003.xml").write_text(
            _voc("ILSVRC2012_val_00000003", (20, 20), "n01484850", [(0, 0, 21, 5)])
        ),
        r"ILSVRC2012_val_00000003.xml: box \(0,0,21,5\) .* is not inside its 20x20 image",
    ),
    (
        "xml unknown class",
        "xml",
        lambda root: (root / "val" / "ILSVRC2012_val_00000003.xml").write_text(
            _voc("ILSVRC2012_val_00000003", (20, 20), "n99999999", [(0, 0, 2, 5)])
        ),
        r"ILSVRC2012_val_00000003.xml: class 'n99999999' .* is not a training class",
    ),
    (
        "not an image",
        "xml",
        lambda root: (root / "train" / "n01443537" / "n01443537_1.JPEG").write_bytes(b"\x00" * 64),
        r"train/n01443537/n01443537_1.JPEG: not a readable image",
    ),
    (
        "no train folder",
        "xml",
        lambda root: shutil.rmtree(root / "train"),
        r"ILSVRC/train: folder not found\. An ILSVRC root holds train/<wnid>/\*.JPEG",
    ),
]


@pytest.mark.parametrize(
    ("boxes", "breakage", "message"),
    [(f, b, m) for _, f, b, m in ILSVRC_BREAKAGES],
    ids=[name for name, *_ in ILSVRC_BREAKAGES],
)
def test_bad_ilsvrc_archive_fails_with_one_located_error(
    tmp_path: Path, boxes: str, breakage: Callable[[Path], None], message: str
) -> None:
    root = make_ilsvrc(tmp_path, boxes)
    breakage(root)
    out = tmp_path / "out"
    with pytest.raises(MetadataError, match=message):
        write(out, prepare_ilsvrc(root))
    assert not out.exists()


# ----------------------------------------------------------------------------- OpenImages
def make_openimages(tmp_path: Path) -> Path:
    """OpenImages30k images and masks under root/<split>/<class>/, upstream metadata in
    root/metadata (no image_sizes.txt, as upstream)."""
    root = tmp_path / "OpenImages"
    _image(root / "train" / "01226z" / "d1.jpg", (30, 20))
    _image(root / "train" / "0138tl" / "d2.jpg", (20, 30))
    for split, cls, stem, size, masks in [
        ("val", "01226z", "a1", (40, 30), 1),
        ("val", "0138tl", "b2", (24, 32), 2),
        ("test", "0138tl", "c3", (16, 16), 1),
    ]:
        folder = root / split / cls
        _image(folder / f"{stem}.jpg", size)
        _image(folder / f"{stem}_ignore.png", size, "L")
        for k in range(masks):
            _image(folder / f"{stem}_m{cls}_{k}.png", size, "L")
    meta = root / "metadata"
    _write(meta / "train" / "image_ids.txt", ["train/01226z/d1.jpg", "train/0138tl/d2.jpg"])
    _write(meta / "train" / "class_labels.txt", ["train/01226z/d1.jpg,0", "train/0138tl/d2.jpg,1"])
    _write(meta / "val" / "image_ids.txt", ["val/01226z/a1.jpg", "val/0138tl/b2.jpg"])
    _write(meta / "val" / "class_labels.txt", ["val/01226z/a1.jpg,0", "val/0138tl/b2.jpg,1"])
    _write(meta / "val" / "localization.txt", VAL_MASK_LINES)
    _write(meta / "test" / "image_ids.txt", ["test/0138tl/c3.jpg"])
    _write(meta / "test" / "class_labels.txt", ["test/0138tl/c3.jpg,1"])
    _write(
        meta / "test" / "localization.txt",
        ["test/0138tl/c3.jpg,test/0138tl/c3_m0138tl_0.png,test/0138tl/c3_ignore.png"],
    )
    return root


VAL_MASK_LINES = [
    "val/01226z/a1.jpg,val/01226z/a1_m01226z_0.png,val/01226z/a1_ignore.png",
    "val/0138tl/b2.jpg,val/0138tl/b2_m0138tl_0.png,val/0138tl/b2_ignore.png",
    "val/0138tl/b2.jpg,val/0138tl/b2_m0138tl_1.png,",
]


def test_openimages_converts_to_exact_metadata_with_masks(tmp_path: Path) -> None:
    root = make_openimages(tmp_path)
    out = tmp_path / "out"
    prepared = prepare_openimages(root)
    write(out, prepared)
    assert prepared.class_names == ["01226z", "0138tl"] and prepared.mask_root == root
    assert _files(out / "val") == {
        "image_ids.txt": "val/01226z/a1.jpg\nval/0138tl/b2.jpg",
        "class_labels.txt": "val/01226z/a1.jpg,0\nval/0138tl/b2.jpg,1",
        "image_sizes.txt": "val/01226z/a1.jpg,40,30\nval/0138tl/b2.jpg,24,32",
        "localization.txt": "\n".join(VAL_MASK_LINES),
    }
    assert _files(out / "train") == {
        "image_ids.txt": "train/01226z/d1.jpg\ntrain/0138tl/d2.jpg",
        "class_labels.txt": "train/01226z/d1.jpg,0\ntrain/0138tl/d2.jpg,1",
        "image_sizes.txt": "train/01226z/d1.jpg,30,20\ntrain/0138tl/d2.jpg,20,30",
    }
    test = read_metadata(out / "test", num_classes=2)
    assert test.masks["test/0138tl/c3.jpg"].ignore == "test/0138tl/c3_ignore.png"
    report = json.loads((out / "report.json").read_text())
    assert report["splits"]["val"]["masks"] == {
        "total": 3,
        "images_with_masks": 2,
        "ignore_masks": 2,
    }


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (
            lambda root: (root / "val" / "0138tl" / "b2_m0138tl_1.png").unlink(),
            r"metadata/val/localization.txt:3: .*b2_m0138tl_1.png: image file not found",
        ),
        (
            lambda root: _edit_line(
                root / "metadata" / "val" / "image_ids.txt", 3, "val/01226z/a1.jpg"
            ),
            r"metadata/val/image_ids.txt:3: duplicate image id 'val/01226z/a1.jpg'",
        ),
        (
            lambda root: _edit_line(
                root / "metadata" / "val" / "localization.txt", 3, "val/0138tl/b2.jpg,x.png"
            ),
            r"metadata/val/localization.txt:3: expected 3 comma-separated fields, got 2",
        ),
        (
            lambda root: (root / "metadata" / "test" / "localization.txt").unlink(),
            r"metadata/test/localization.txt: file not found\. val and test need mask",
        ),
        (
            lambda root: (root / "train" / "0138tl" / "d2.jpg").write_text("text"),
            r"metadata/train/image_ids.txt:2: .*d2.jpg: not a readable image",
        ),
    ],
    ids=["missing-mask", "duplicate-id", "field-count", "no-masks", "not-an-image"],
)
def test_bad_openimages_archive_fails_with_one_located_error(
    tmp_path: Path, breakage: Callable[[Path], None], message: str
) -> None:
    root = make_openimages(tmp_path)
    breakage(root)
    out = tmp_path / "out"
    with pytest.raises(MetadataError, match=message):
        write(out, prepare_openimages(root))
    assert not out.exists()


# ----------------------------------------------------------------------------- entry points
def test_convert_rejects_options_of_other_kinds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"boxes: not an option of kind 'cub'"):
        convert("cub", {"root": tmp_path, "boxes": "x.csv"})
    with pytest.raises(ValueError, match=r"needs 'root'"):
        convert("ilsvrc", {"num_classes": 1000})


def test_cli_prepare_cub_writes_metadata_and_reports_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_cub(tmp_path)
    out = tmp_path / "cli"
    argv = ["prepare", "cub", "--root", str(root), "--out", str(out), "--val-per-class", "1"]
    assert main([*argv, "--workers", "2"]) == 0
    assert _files(out / "test") == CUB_TEST
    assert read_metadata(out / "val", num_classes=3, require_boxes=True).labels() == [0, 1, 2]
    _edit_line(root / "bounding_boxes.txt", 3, "3 0.0 0.0 41.0 29.0")
    assert main([*argv[:5], str(tmp_path / "cli2")]) == 2
    assert "bounding_boxes.txt:3: box (0,0,41,29)" in capsys.readouterr().err
    assert not (tmp_path / "cli2").exists()
    assert main(["prepare"]) == 2
    assert "needs --config and --dataset, or a layout" in capsys.readouterr().err


def test_pipeline_step_and_schema_accept_a_cub_dataset(tmp_path: Path) -> None:
    from snakemake.utils import validate

    root = make_cub(tmp_path)
    config = yaml.safe_load((Path(__file__).parent / "config" / "tiny.yaml").read_text())
    train = {"epochs": 1, "batch_size": 2, "lr": 0.01}
    spec = {
        "kind": "cub",
        "root": str(root),
        "num_classes": 3,
        "input_size": 224,
        "resize_size": 256,
        "train": train,
    }
    config["datasets"]["cub"] = {**spec, "val_per_class": 1}
    validate(config, schema=str(SCHEMA))
    manifest = read_manifest(prepare_dataset("cub", config["datasets"]["cub"], tmp_path / "data"))
    assert manifest.image_root == str(root / "images") and manifest.mask_root is None
    assert sorted(manifest.metadata) == ["test", "train", "val"]
    assert manifest.split("test").image_ids == tuple(CUB_TEST["image_ids.txt"].split("\n"))
    assert (tmp_path / "data" / "metadata" / "report.json").is_file()
    with pytest.raises(ValueError, match=r"holds 3 classes but the config says num_classes: 200"):
        prepare_dataset("cub", {**spec, "num_classes": 200, "val_per_class": 1}, tmp_path / "d2")
    missing_root = {k: v for k, v in spec.items() if k != "root"}
    config["datasets"]["cub"] = missing_root
    with pytest.raises(Exception, match="'root' is a required property"):
        validate(config, schema=str(SCHEMA))


def test_pipeline_step_points_an_openimages_manifest_at_its_own_folders(tmp_path: Path) -> None:
    root = make_openimages(tmp_path)
    train = {"epochs": 1, "batch_size": 2, "lr": 0.01}
    spec = {"kind": "openimages", "root": str(root), "num_classes": 2, "train": train}
    manifest = read_manifest(prepare_dataset("oi", spec, tmp_path / "data"))
    assert manifest.image_root == manifest.mask_root == str(root)
    assert manifest.class_names == ["01226z", "0138tl"]
    assert manifest.split("val").masks["val/0138tl/b2.jpg"].masks == (
        "val/0138tl/b2_m0138tl_0.png",
        "val/0138tl/b2_m0138tl_1.png",
    )
