"""Strict construction of frozen config dataclasses from config mappings."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def checked_keys(cls: type, values: dict[str, Any], what: str) -> dict[str, Any]:
    """A copy of ``values`` after checking every key is a field of dataclass ``cls``.

    Raises:
        ValueError: ``unknown <what> keys [...]; known: [...]``.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known: {sorted(known)}")
    return dict(values)
