"""Per-run metric JSONs -> one long-format table (one row per measured number).

Columns: ``dataset, model, backbone, head, seed, method, variant, split, protocol, metric,
value``. Metric names are the evaluator's JSON keys; a per-IoU object such as
``max_box_acc = {"50": ...}`` becomes ``max_box_acc_50``. Curves, settings and thresholds are
not metrics and stay in the JSONs. Rows are sorted, so the CSV is byte-stable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

KEY_COLUMNS = (
    "dataset",
    "model",
    "backbone",
    "head",
    "seed",
    "method",
    "variant",
    "split",
    "protocol",
)
COLUMNS = (*KEY_COLUMNS, "metric", "value")
METRIC_GROUPS = ("max_box_acc", "max_box_acc_v2_iou")
NOT_METRICS = frozenset(
    {
        "curves",
        "settings",
        "best_threshold",
        "best_threshold_index",
        "num_correct",
        "num_images",
        *KEY_COLUMNS,
    }
)


def metric_items(result: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    """(name, value) of every reported number of one evaluator result."""
    for key, value in result.items():
        if key in NOT_METRICS or value is None:
            continue
        if key in METRIC_GROUPS and isinstance(value, Mapping):
            for level, number in value.items():
                yield f"{key}_{level}", float(number)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield key, float(value)


def long_table(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per (run, metric) over all metric files."""
    rows = []
    for path in paths:
        result = json.loads(Path(path).read_text())
        missing = [k for k in KEY_COLUMNS if k not in result]
        if missing:
            raise ValueError(f"{path}: metric file lacks the run keys {missing}")
        keys = {k: result[k] for k in KEY_COLUMNS}
        rows.extend({**keys, "metric": m, "value": v} for m, v in metric_items(result))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values(list(COLUMNS[:-1]), kind="stable").reset_index(drop=True)
