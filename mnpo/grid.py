"""The experiment grid: validated config -> runs, jobs and target paths.

Torch-free and fast on purpose: the Snakefile imports it, and ``snakemake -n`` must stay instant.
All result paths of the workflow are built here (and only here), so rules, scripts and tests agree.

Layout (one arrow = one rule, see docs/architecture.md)::

    results/data/{dataset}/metadata/{split}/*.txt          prepare_dataset
    results/models/{dataset}/{model}/seed{seed}/{best,last}.pt, history.csv   train_model
    results/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz    extract_cams_<model>
    results/metrics/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.{protocol}.json
    results/tables/metrics.csv, results/tables/{table}.{md,csv,tex}
    results/figures/{dataset}/{figure}.{png,pdf}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESULTS = "results"
PROTOCOLS = ("paper", "wsoleval")
HEADS = ("cam", "mnpo")
SPLITS = ("train", "val", "test")
FIGURES = ("cam_grid", "threshold_curves")
TABLE_FORMATS = ("md", "csv", "tex")


@dataclass(frozen=True, slots=True)
class TrainRun:
    """One trained model: a (dataset, model, seed) cell of the grid."""

    dataset: str
    model: str
    seed: int

    @property
    def model_dir(self) -> str:
        return f"{RESULTS}/models/{self.dataset}/{self.model}/seed{self.seed}"


@dataclass(frozen=True, slots=True)
class CamJob:
    """Score maps of one variant of one method on one split of a trained model."""

    dataset: str
    model: str
    seed: int
    method: str
    variant: str
    split: str

    @property
    def cams(self) -> str:
        return cams_path(self.dataset, self.model, self.seed, self.method, self.variant, self.split)

    def metrics(self, protocol: str) -> str:
        return metrics_path(
            self.dataset, self.model, self.seed, self.method, self.variant, self.split, protocol
        )


def metadata_dir(dataset: str, split: str) -> str:
    return f"{RESULTS}/data/{dataset}/metadata/{split}"


def cams_path(
    dataset: str, model: str, seed: int | str, method: str, variant: str, split: str
) -> str:
    return f"{RESULTS}/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz"


def metrics_path(
    dataset: str, model: str, seed: int | str, method: str, variant: str, split: str, protocol: str
) -> str:
    return (
        f"{RESULTS}/metrics/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.{protocol}.json"
    )


def figure_paths(dataset: str) -> list[str]:
    return [
        f"{RESULTS}/figures/{dataset}/{figure}.{ext}"
        for figure in FIGURES
        for ext in ("png", "pdf")
    ]


def table_paths(tables: Mapping[str, Any]) -> list[str]:
    return [f"{RESULTS}/tables/{name}.{ext}" for name in tables for ext in TABLE_FORMATS]


def train_runs(config: Mapping[str, Any]) -> list[TrainRun]:
    """Every (dataset, model, seed) to train, in config order."""
    return [
        TrainRun(dataset, model, int(seed))
        for dataset in config["datasets"]
        for model in config["models"]
        for seed in config["seeds"]
    ]


def applies(variant: Mapping[str, Any], backbone: str) -> bool:
    """False when the variant's ``layer`` is a backbone -> stage mapping without ``backbone``."""
    layer = variant.get("layer")
    return not isinstance(layer, Mapping) or backbone in layer


def variants_for(config: Mapping[str, Any], model: str) -> list[tuple[str, str]]:
    """(method, variant) pairs whose method applies to the model's head (and backbone)."""
    head, backbone = config["models"][model]["head"], config["models"][model]["backbone"]
    return [
        (method, variant)
        for method, spec in config["methods"].items()
        if head in spec["heads"]
        for variant, params in spec["variants"].items()
        if applies(params, backbone)
    ]


def check_models(config: Mapping[str, Any]) -> None:
    """Cross-key checks the schema cannot express.

    Raises:
        ValueError: ``init_from`` naming an unknown model, one of another backbone, one that is
            not a ``cam`` model, or the model itself.
    """
    models = config["models"]
    for name, spec in models.items():
        source = spec.get("init_from")
        if source is None:
            continue
        if source not in models or source == name:
            raise ValueError(
                f"models.{name}.init_from: {source!r} is not another model of the config"
            )
        if models[source]["backbone"] != spec["backbone"] or models[source]["head"] != "cam":
            raise ValueError(
                f"models.{name}.init_from: {source!r} must be a cam model of backbone "
                f"{spec['backbone']!r}"
            )


def cam_jobs(config: Mapping[str, Any]) -> list[CamJob]:
    """Every score-map job: trained model x applicable (method, variant) x evaluated split."""
    splits = config["evaluation"]["splits"]
    return [
        CamJob(run.dataset, run.model, run.seed, method, variant, split)
        for run in train_runs(config)
        for method, variant in variants_for(config, run.model)
        for split in splits
    ]


def model_maps(config: Mapping[str, Any], model: str) -> list[tuple[str, str, str, str]]:
    """The score maps one trained ``model`` yields, as (split, method, variant, path pattern);
    the pattern keeps ``{dataset}`` and ``{seed}`` as wildcards (one map job per model)."""
    return [
        (split, method, variant, cams_path("{dataset}", model, "{seed}", method, variant, split))
        for method, variant in variants_for(config, model)
        for split in config["evaluation"]["splits"]
    ]


def metric_files(config: Mapping[str, Any]) -> list[str]:
    """Every per-run metric JSON of the grid (all protocols)."""
    protocols = config["evaluation"]["protocols"]
    return [job.metrics(protocol) for job in cam_jobs(config) for protocol in protocols]


def variant_spec(config: Mapping[str, Any], method: str, variant: str) -> dict[str, Any]:
    """The variant's parameters (``kind`` and its keyword arguments)."""
    return dict(config["methods"][method]["variants"][variant])


def figure_inputs(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """Inputs of ``plot_figures`` for one dataset: its manifest, the metric files of the figure
    split (``wsoleval`` when evaluated, for the curves) and the first seed's score maps, of the
    ``figures.variants`` selection (all when omitted)."""
    split = config["figures"]["split"]
    seed = config["seeds"][0]
    protocol = "wsoleval" if "wsoleval" in config["evaluation"]["protocols"] else "paper"
    shown = config["figures"].get("variants")
    jobs = [
        j
        for j in cam_jobs(config)
        if j.dataset == dataset
        and j.split == split
        and (not shown or f"{j.method}/{j.variant}" in shown)
    ]
    return {
        "manifest": f"{RESULTS}/data/{dataset}/dataset.json",
        "metrics": [j.metrics(protocol) for j in jobs],
        "cams": [j.cams for j in jobs if j.seed == seed],
    }


def final_targets(config: Mapping[str, Any]) -> list[str]:
    """What ``rule all`` asks for: tables, figures and the aggregated metrics."""
    return [
        f"{RESULTS}/tables/metrics.csv",
        *table_paths(config["tables"]),
        *(path for dataset in config["datasets"] for path in figure_paths(dataset)),
    ]


def wildcard_constraints(config: Mapping[str, Any]) -> dict[str, str]:
    """Regexes that make every wildcard match only names the config defines."""

    def alternatives(names: Any) -> str:
        return "|".join(sorted(str(n) for n in names))

    variants = {v for spec in config["methods"].values() for v in spec["variants"]}
    return {
        "dataset": alternatives(config["datasets"]),
        "model": alternatives(config["models"]),
        "seed": r"\d+",
        "method": alternatives(config["methods"]),
        "variant": alternatives(variants),
        "split": alternatives(SPLITS),
        "protocol": alternatives(PROTOCOLS),
        "figure": alternatives(FIGURES),
    }
