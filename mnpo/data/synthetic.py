"""The embedded synthetic WSOL dataset: a shared-pool body plus a class-specific part.

Each image holds one object (or several of one class) on a cluttered, textured background.
An object is a large **body** — an ellipse with random axes, orientation, grey-brown colour and
stripe/noise texture, all drawn from one pool shared by every class — and a small
**discriminative part** attached at the body's edge, like a bird's head: its saturated hue and
its shape (disc, square, triangle, diamond) identify the class. The box and mask cover body +
part. Background clutter are body-like ellipses without parts and low-saturation blobs, so
neither "a body is present" nor the texture tells the class: the part is the only cue, and a
plain CAM has every reason to light the part alone (IoU of the part's box with the object's box
is far below 0.5). See docs/synthetic.md.

Deterministic: each split draws from ``np.random.default_rng((seed, split_index))``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mnpo.configs import checked_keys
from mnpo.data.metadata import MaskAnnotation, Metadata, write_metadata
from mnpo.io import atomic_path, write_text

SPLITS = ("train", "val", "test")
PART_SHAPES = ("disc", "square", "triangle", "diamond")


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """Generator parameters.

    Attributes:
        num_classes: K; class k's part has hue k/K-spread and shape ``PART_SHAPES[k % 4]``.
        images_per_class: split -> images per class.
        image_size: side of the square images (pixels).
        body_scale: (min, max) of the body's semi-major axis as a fraction of the image side.
        part_scale: part radius as a fraction of the body's semi-minor axis.
        clutter: number of distractor shapes in the background.
        objects_per_image: objects (of the image's class) per image; >1 gives several boxes.
        seed: the dataset's seed.
    """

    num_classes: int = 8
    images_per_class: dict[str, int] = field(
        default_factory=lambda: {"train": 40, "val": 8, "test": 16}
    )
    image_size: int = 128
    body_scale: tuple[float, float] = (0.22, 0.34)
    part_scale: float = 0.45
    clutter: int = 6
    objects_per_image: int = 1
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyntheticConfig:
        """Build from a config mapping; unknown keys and unknown splits are errors."""
        data = checked_keys(cls, values, "synthetic generator")
        if "images_per_class" in data:
            bad = sorted(set(data["images_per_class"]) - set(SPLITS))
            if bad:
                raise ValueError(f"unknown splits {bad} in images_per_class; known: {SPLITS}")
            data["images_per_class"] = {k: int(v) for k, v in data["images_per_class"].items()}
        for key in ("body_scale",):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)


def part_colour(label: int, num_classes: int) -> tuple[int, int, int]:
    """Saturated RGB colour of class ``label``'s part (hues spread over the circle)."""
    hue = (label * 0.61803398875) % 1.0 if num_classes > 12 else label / num_classes
    r, g, b = colorsys.hsv_to_rgb(hue, 0.95, 1.0)
    return int(255 * r), int(255 * g), int(255 * b)


def class_names(config: SyntheticConfig) -> list[str]:
    """Readable class names, e.g. ``c03-square``."""
    return [f"c{k:02d}-{PART_SHAPES[k % len(PART_SHAPES)]}" for k in range(config.num_classes)]


def _dull_colour(rng: np.random.Generator) -> np.ndarray:
    """A low-saturation colour (greys and browns) shared by bodies, clutter and background."""
    hue, sat, val = rng.uniform(0.02, 0.14), rng.uniform(0.05, 0.3), rng.uniform(0.3, 0.85)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255


def _texture(rng: np.random.Generator, size: int, base: np.ndarray) -> np.ndarray:
    """(size, size, 3) float texture: base colour + stripes or smooth noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if rng.random() < 0.5:
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 10)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    else:
        coarse = rng.normal(size=(size // 8 + 1, size // 8 + 1)).astype(np.float32)
        wave = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return base[None, None, :] + 28 * wave[..., None]


def _background(rng: np.random.Generator, size: int, clutter: int) -> np.ndarray:
    image = _texture(rng, size, _dull_colour(rng))
    image += rng.normal(0, 6, size=image.shape)
    for _ in range(clutter):
        mask = np.zeros((size, size), np.uint8)
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        axes = tuple(int(v) for v in rng.uniform(0.05, 0.25, 2) * size)
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        image[mask > 0] = _texture(rng, size, _dull_colour(rng))[mask > 0]
    return image


def _part_polygon(shape: str, centre: np.ndarray, radius: float, angle: float) -> np.ndarray:
    corners = {"square": 4, "triangle": 3, "diamond": 4}[shape]
    offset = np.pi / 4 if shape == "square" else 0.0
    theta = angle + offset + 2 * np.pi * np.arange(corners) / corners
    scale = np.where(np.arange(corners) % 2 == 0, 1.0, 0.6) if shape == "diamond" else 1.0
    points = (
        centre + radius * np.stack([np.cos(theta), np.sin(theta)], 1) * np.asarray(scale)[..., None]
    )
    return np.round(points).astype(np.int32)


def _draw_object(
    rng: np.random.Generator, image: np.ndarray, label: int, config: SyntheticConfig
) -> np.ndarray:
    """Draw one object into ``image`` (in place); returns its (size, size) bool mask."""
    size = config.image_size
    major = rng.uniform(*config.body_scale) * size
    minor = major * rng.uniform(0.55, 0.85)
    margin = major + minor * config.part_scale * 2
    centre = rng.uniform(margin, size - margin, 2) if size > 2 * margin else np.full(2, size / 2)
    tilt = rng.uniform(0, 180)
    body = np.zeros((size, size), np.uint8)
    cv2.ellipse(
        body, (int(centre[0]), int(centre[1])), (int(major), int(minor)), tilt, 0, 360, 1, -1
    )
    # part attached at a random point of the body's boundary, pushed half outside
    phi = rng.uniform(0, 2 * np.pi)
    rot = np.deg2rad(tilt)
    edge = np.array([major * np.cos(phi), minor * np.sin(phi)])
    edge = np.array(
        [
            edge[0] * np.cos(rot) - edge[1] * np.sin(rot),
            edge[0] * np.sin(rot) + edge[1] * np.cos(rot),
        ]
    )
    radius = config.part_scale * minor
    part_centre = centre + edge * (1 + 0.5 * radius / np.linalg.norm(edge))
    part = np.zeros((size, size), np.uint8)
    shape = PART_SHAPES[label % len(PART_SHAPES)]
    if shape == "disc":
        cv2.circle(part, tuple(int(v) for v in np.round(part_centre)), int(radius), 1, -1)
    else:
        cv2.fillPoly(
            part, [_part_polygon(shape, part_centre, radius, rng.uniform(0, 2 * np.pi))], 1
        )
    body_texture = _texture(rng, size, _dull_colour(rng))
    image[body > 0] = body_texture[body > 0]
    colour = np.array(part_colour(label, config.num_classes), dtype=np.float64)
    shade = 0.85 + 0.15 * np.sign(np.sin(np.arange(size) / 2.0))[None, :, None]
    painted = np.broadcast_to(colour[None, None, :] * shade, (size, size, 3))
    image[part > 0] = painted[part > 0]
    return (body > 0) | (part > 0)


def render_image(
    rng: np.random.Generator, label: int, config: SyntheticConfig
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """One sample: (uint8 RGB image (S, S, 3), uint8 mask 0/255, tight inclusive boxes)."""
    image = _background(rng, config.image_size, config.clutter)
    union = np.zeros((config.image_size, config.image_size), bool)
    boxes = []
    for _ in range(config.objects_per_image):
        mask = _draw_object(rng, image, label, config)
        ys, xs = np.nonzero(mask)
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())))
        union |= mask
    return np.clip(image, 0, 255).astype(np.uint8), union.astype(np.uint8) * 255, boxes


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def generate_split(out_dir: Path, config: SyntheticConfig, split: str) -> Metadata:
    """Write the images and masks of one split; returns its metadata (not yet written)."""
    rng = np.random.default_rng((config.seed, SPLITS.index(split)))
    ids, labels, boxes, masks = [], {}, {}, {}
    for label in range(config.num_classes):
        for k in range(config.images_per_class[split]):
            image_id = f"{split}/{label:03d}/{k:04d}.png"
            image, mask, object_boxes = render_image(rng, label, config)
            _write_png(out_dir / "images" / image_id, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            _write_png(out_dir / "masks" / image_id, mask)
            ids.append(image_id)
            labels[image_id] = label
            boxes[image_id] = tuple(object_boxes)
            masks[image_id] = MaskAnnotation((image_id,))
    size = (config.image_size, config.image_size)
    return Metadata(tuple(ids), labels, {i: size for i in ids}, boxes, masks)


def generate_synthetic(out_dir: str | Path, config: SyntheticConfig) -> None:
    """Generate every split into ``out_dir`` (images/, masks/, metadata/<split>/, classes.txt).

    Images and masks are written first and metadata last, so a killed run never leaves
    metadata that points at missing files.
    """
    root = Path(out_dir)
    splits = {split: generate_split(root, config, split) for split in config.images_per_class}
    for split, metadata in splits.items():
        write_metadata(root / "metadata" / split, metadata)
    write_text(
        root / "metadata" / "classes.txt",
        "\n".join(f"{k},{name}" for k, name in enumerate(class_names(config))),
    )
