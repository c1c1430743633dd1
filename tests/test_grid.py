"""Grid expansion: per-variant splits and one evaluation job per model."""

from __future__ import annotations

from typing import Any

from mnpo import grid


def _config() -> dict[str, Any]:
    return {
        "datasets": {"syn": {"kind": "synthetic", "num_classes": 3, "train": {}}},
        "models": {
            "r-cam": {"backbone": "resnet18", "head": "cam"},
            "r-mnpo": {"backbone": "resnet18", "head": "mnpo", "init_from": "r-cam"},
        },
        "methods": {
            "cam": {"heads": ["cam"], "variants": {"plain": {"kind": "cam"}}},
            "mnpo": {
                "heads": ["mnpo"],
                "variants": {
                    "pp": {"kind": "mnpo", "a": 10, "b": 5},
                    "ab-4": {"kind": "mnpo", "a": 20, "b": 5, "splits": ["val"]},
                },
            },
        },
        "seeds": [0],
        "evaluation": {"splits": ["val", "test"], "protocols": ["paper", "wsoleval"]},
        "tables": {},
        "figures": {"split": "test"},
    }


def test_a_variant_with_splits_is_evaluated_on_those_only() -> None:
    config = _config()
    jobs = {(j.model, j.variant, j.split) for j in grid.cam_jobs(config)}
    assert jobs == {
        ("r-cam", "plain", "val"),
        ("r-cam", "plain", "test"),
        ("r-mnpo", "pp", "val"),
        ("r-mnpo", "pp", "test"),
        ("r-mnpo", "ab-4", "val"),
    }
    assert [(s, v) for s, _, v, _ in grid.model_maps(config, "r-mnpo")] == [
        ("val", "pp"),
        ("test", "pp"),
        ("val", "ab-4"),
    ]
    # the map function never sees `splits`
    assert grid.variant_spec(config, "mnpo", "ab-4") == {"kind": "mnpo", "a": 20, "b": 5}


def test_model_metrics_cover_every_map_and_protocol_in_path_order() -> None:
    config = _config()
    metrics = grid.model_metrics(config, "r-mnpo")
    assert len(metrics) == 3 * 2
    paths = grid.model_metrics_paths(config, "r-mnpo")
    assert paths[0] == ("results/metrics/{dataset}/r-mnpo/seed{seed}/mnpo/pp/val.paper.json")
    assert len(set(paths)) == len(paths)
    all_files = set(grid.metric_files(config))
    filled = {
        p.format(dataset="syn", seed=0)
        for m in config["models"]
        for p in grid.model_metrics_paths(config, m)
    }
    assert filled == all_files
