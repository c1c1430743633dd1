"""Image reading with one clear error per bad file."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError


class ImageError(ValueError):
    """A missing, unreadable or corrupt image; the message names the file."""


def read_image(path: str | os.PathLike) -> Image.Image:
    """Decode ``path`` fully into an RGB image.

    Raises:
        ImageError: the file does not exist or is not a decodable image.
    """
    target = Path(path)
    if not target.is_file():
        raise ImageError(f"{target}: image file not found")
    try:
        with Image.open(target) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageError(f"{target}: not a readable image ({err})") from err


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the header only (no decoding)."""
    target = Path(path)
    try:
        with Image.open(target) as image:
            return image.size
    except FileNotFoundError:
        raise ImageError(f"{target}: image file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ImageError(f"{target}: not a readable image ({err})") from err
