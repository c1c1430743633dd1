"""Atomic file output: write to a temporary file in the target's folder, then rename.

A reader (or Snakemake after a kill) never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[TextIO | BinaryIO]:
    """``open`` a temporary file beside ``path`` (text mode writes ``\\n`` line ends)."""
    with atomic_path(path) as tmp:
        newline = None if "b" in mode else "\n"
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, newline=newline, encoding=encoding) as handle:
            yield handle


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_open(path) as handle:
        handle.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON (sorted keys, indent 2, trailing newline) atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
