"""The paper-layout tables: Markdown, CSV and LaTeX from the long metrics table.

A table spec (config ``tables.<name>``) picks a split, the datasets and methods/variants to
show (all when omitted) and the metrics per protocol. Rows are (dataset, backbone, head, method,
variant, protocol); each cell is the mean +- sample standard deviation over seeds (the mean
alone for one seed), and the ``seeds`` column gives their number. Values are in percent
(accuracies, or errors for the ``paper`` protocol's ``*_error`` metrics). The CSV keeps
full-precision ``<metric>_mean`` / ``<metric>_std`` columns; Markdown and LaTeX round to one
decimal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mnpo.io import write_text

ROW_KEYS = ["dataset", "backbone", "head", "method", "variant", "protocol"]


def summarise(frame: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """Mean, std and seed count per row key and metric, restricted to the spec's selection."""
    chosen = frame[frame["split"] == spec["split"]]
    if spec.get("datasets"):
        chosen = chosen[chosen["dataset"].isin(spec["datasets"])]
    if spec.get("variants"):
        wanted = {tuple(v.split("/", 1)) for v in spec["variants"]}
        pairs = list(zip(chosen["method"], chosen["variant"], strict=True))
        chosen = chosen[[p in wanted for p in pairs]]
    keep = [
        (protocol, metric) for protocol, metrics in spec["metrics"].items() for metric in metrics
    ]
    mask = [(p, m) in set(keep) for p, m in zip(chosen["protocol"], chosen["metric"], strict=True)]
    chosen = chosen[mask]
    grouped = chosen.groupby([*ROW_KEYS, "metric"], sort=False)["value"]
    stats = grouped.agg(mean="mean", std="std", seeds="count").reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats


def wide(stats: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Rows = ROW_KEYS (+ seeds), columns ``<metric>_mean`` / ``<metric>_std`` in spec order."""
    seeds = stats.groupby(ROW_KEYS, sort=False)["seeds"].max()
    pivot = stats.pivot_table(index=ROW_KEYS, columns="metric", values=["mean", "std"], sort=False)
    columns = {}
    for metric in metrics:
        if ("mean", metric) in pivot.columns:
            columns[f"{metric}_mean"] = pivot[("mean", metric)]
            columns[f"{metric}_std"] = pivot[("std", metric)]
    table = pd.DataFrame(columns, index=pivot.index)
    table.insert(0, "seeds", seeds.reindex(table.index).astype(int))
    return table.reset_index()


def _cell(mean: float, std: float, seeds: int) -> str:
    if np.isnan(mean):
        return ""
    return f"{mean:.1f}" if seeds < 2 else f"{mean:.1f} ± {std:.1f}"


def rendered(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Human-readable cells ``mean ± std`` (one decimal)."""
    out = table[[*ROW_KEYS, "seeds"]].copy()
    for metric in metrics:
        if f"{metric}_mean" in table:
            out[metric] = [
                _cell(m, s, n)
                for m, s, n in zip(
                    table[f"{metric}_mean"], table[f"{metric}_std"], table["seeds"], strict=True
                )
            ]
    return out


def write_table(
    frame: pd.DataFrame,
    name: str,
    spec: Mapping[str, Any],
    outputs: Mapping[str, str | os.PathLike],
) -> pd.DataFrame:
    """Write table ``name`` to ``outputs["md"]``, ``["csv"]`` and ``["tex"]``; returns the CSV."""
    metrics = list(dict.fromkeys(m for ms in spec["metrics"].values() for m in ms))
    table = wide(summarise(frame, spec), metrics)
    if table.empty:
        raise ValueError(
            f"table {name!r}: no metrics match split {spec['split']!r} and its metrics"
        )
    shown = rendered(table, metrics)
    caption = spec.get("caption", name)
    note = (
        f"Split `{spec['split']}`; mean ± std over seeds (percent). `paper` rows: errors "
        "(lower is better); `wsoleval` rows: accuracies / PxAP (higher is better)."
    )
    write_text(Path(outputs["csv"]), table.to_csv(index=False))
    write_text(Path(outputs["md"]), f"## {caption}\n\n{note}\n\n{shown.to_markdown(index=False)}\n")
    latex = shown.to_latex(index=False, caption=caption, label=f"tab:{name}", escape=True)
    write_text(Path(outputs["tex"]), latex)
    return table
