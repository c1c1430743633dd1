"""The experiment grid: validated config -> runs, jobs and target paths.

Torch-free and fast on purpose: the Snakefile imports it, and ``snakemake -n`` must stay instant.
All result paths of the workflow are built here (and only here), so rules, scripts and tests agree.

Layout (one arrow = one rule, see docs/architecture.md)::

    results/data/{dataset}/metadata/{split}/*.txt          prepare_dataset
    results/weights/{backbone}/staged.json (+ the file)     stage_weights
    results/models/{dataset}/{model}/seed{seed}/{best,last}.pt, history.csv   train_model
                                                            (stage_pretrained: best, last)
    results/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz    extract_cams_<model>
    results/metrics/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.{protocol}.json
                                                            evaluate_<model>
    results/tables/metrics.csv, results/tables/{table}.{md,csv,tex}
    results/figures/{dataset}/{figure}.{png,pdf}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESULTS = "results"
PROTOCOLS = ("paper", "wsoleval")
HEADS = ("cam", "mnpo")
SPLITS = ("train", "val", "test")
FIGURES = ("cam_grid", "threshold_curves")
TABLE_FORMATS = ("md", "csv", "tex")
IMAGENET_CLASSES = 1000
"""Classes of the ImageNet-1k classifiers. Defined here, with ``HEADS``, once for the whole
package: this module is torch-free, so the model and data code import them from it."""


@dataclass(frozen=True, slots=True)
class TrainRun:
    """One model of the grid, a (dataset, model, seed) cell: trained, or, for a pretrained
    model, its ImageNet classifier staged as the checkpoint."""

    dataset: str
    model: str
    seed: int

    @property
    def model_dir(self) -> str:
        return f"{RESULTS}/models/{self.dataset}/{self.model}/seed{self.seed}"

    def logits(self, split: str) -> str:
        return logits_path(self.dataset, self.model, self.seed, split)


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


def logits_path(dataset: str, model: str, seed: int | str, split: str) -> str:
    return f"{RESULTS}/logits/{dataset}/{model}/seed{seed}/{split}.npz"


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


def model_datasets(config: Mapping[str, Any], model: str) -> list[str]:
    """The datasets ``model`` runs on: those of its ``datasets`` list, else every dataset (in
    config order)."""
    chosen = config["models"][model].get("datasets")
    return [d for d in config["datasets"] if chosen is None or d in chosen]


def dataset_splits(config: Mapping[str, Any], dataset: str) -> list[str]:
    """The evaluated splits of ``dataset``: its ``splits``, else ``evaluation.splits``."""
    return list(config["datasets"][dataset].get("splits") or config["evaluation"]["splits"])


def model_splits(config: Mapping[str, Any], model: str) -> list[str]:
    """The evaluated splits of ``model``: those of its datasets (one list: ``check_models``)."""
    datasets = model_datasets(config, model)
    return dataset_splits(config, datasets[0]) if datasets else []


def is_pretrained(config: Mapping[str, Any], model: str) -> bool:
    """True for a model that is an ImageNet classifier used as is (``pretrained``), not trained."""
    return config["models"][model].get("pretrained") is not None


def pretrained_models(config: Mapping[str, Any]) -> list[str]:
    """The pretrained models (``stage_pretrained`` writes their checkpoints), in config order."""
    return [model for model in config["models"] if is_pretrained(config, model)]


def model_seeds(config: Mapping[str, Any], model: str) -> list[int]:
    """The seeds ``model`` runs with: all of them, or the first alone for a pretrained model
    (nothing is trained, so every seed would repeat the same numbers)."""
    seeds = [int(seed) for seed in config["seeds"]]
    return seeds[:1] if is_pretrained(config, model) else seeds


def train_runs(config: Mapping[str, Any]) -> list[TrainRun]:
    """Every (dataset, model, seed) cell, in config order: each model on its datasets."""
    return [
        TrainRun(dataset, model, seed)
        for dataset in config["datasets"]
        for model in config["models"]
        if dataset in model_datasets(config, model)
        for seed in model_seeds(config, model)
    ]


def applies(variant: Mapping[str, Any], backbone: str) -> bool:
    """False when the variant's ``layer`` is a backbone -> stage mapping without ``backbone``."""
    layer = variant.get("layer")
    return not isinstance(layer, Mapping) or backbone in layer


def applicable_variants(config: Mapping[str, Any], model: str) -> list[tuple[str, str]]:
    """(method, variant) pairs whose method applies to the model's head (and backbone)."""
    head, backbone = config["models"][model]["head"], config["models"][model]["backbone"]
    return [
        (method, variant)
        for method, spec in config["methods"].items()
        if head in spec["heads"]
        for variant, params in spec["variants"].items()
        if applies(params, backbone)
    ]


def variants_for(config: Mapping[str, Any], model: str) -> list[tuple[str, str]]:
    """The (method, variant) pairs of ``model``: the applicable ones, restricted to the model's
    ``variants`` selection (``method/variant`` names) when it has one."""
    chosen = config["models"][model].get("variants")
    return [
        (method, variant)
        for method, variant in applicable_variants(config, model)
        if chosen is None or f"{method}/{variant}" in chosen
    ]


def check_models(config: Mapping[str, Any]) -> None:
    """Cross-key checks the schema cannot express.

    Raises:
        ValueError: ``init_from`` naming an unknown model, one of another backbone, one that is
            not a trained ``cam`` model, one that does not run on all of the model's datasets,
            or the model itself; conflicting weights of one backbone; ``datasets`` naming an
            unknown dataset, or datasets that evaluate different splits; a trained model on a
            dataset without ``train`` schedule; a pretrained model that is not a plain ``cam``
            model or runs on a dataset not labelled with the 1000 ImageNet classes; a
            ``variants`` name that is not a variant applying to the model.
    """
    for name in config["models"]:
        _check_init_from(config, name)
        _check_datasets(config, name)
        _check_pretrained(config, name)
        _check_variants(config, name)
    weight_requests(config)


def _check_init_from(config: Mapping[str, Any], name: str) -> None:
    models = config["models"]
    spec, source = models[name], models[name].get("init_from")
    if source is None:
        return
    if source not in models or source == name:
        raise ValueError(f"models.{name}.init_from: {source!r} is not another model of the config")
    if (
        models[source]["backbone"] != spec["backbone"]
        or models[source]["head"] != "cam"
        or is_pretrained(config, source)
    ):
        raise ValueError(
            f"models.{name}.init_from: {source!r} must be a trained cam model of backbone "
            f"{spec['backbone']!r}"
        )
    missing = [d for d in model_datasets(config, name) if d not in model_datasets(config, source)]
    if missing:
        raise ValueError(f"models.{name}.init_from: {source!r} does not run on {missing}")


def _check_datasets(config: Mapping[str, Any], name: str) -> None:
    unknown = sorted(set(config["models"][name].get("datasets") or ()) - set(config["datasets"]))
    if unknown:
        raise ValueError(f"models.{name}.datasets: {unknown} are not datasets of the config")
    datasets = model_datasets(config, name)
    untrainable = [d for d in datasets if "train" not in config["datasets"][d]]
    if untrainable and not is_pretrained(config, name):
        raise ValueError(
            f"models.{name} is trained, but {untrainable} have no `train` schedule "
            "(evaluation only); restrict the model's `datasets`"
        )
    splits = sorted({tuple(dataset_splits(config, d)) for d in datasets})
    if len(splits) > 1:
        raise ValueError(
            f"models.{name}: its datasets {datasets} evaluate different splits {splits} (one "
            "map job per model); give them the same `splits` or make two models"
        )


def _check_pretrained(config: Mapping[str, Any], name: str) -> None:
    spec = config["models"][name]
    if not is_pretrained(config, name):
        return
    if spec["head"] != "cam" or spec.get("init_from") is not None or spec.get("train"):
        raise ValueError(
            f"models.{name}: a pretrained model is the ImageNet classifier as is: head cam, "
            "no init_from, no train overrides"
        )
    other = [
        d
        for d in model_datasets(config, name)
        if config["datasets"][d]["num_classes"] != IMAGENET_CLASSES
    ]
    if other:
        raise ValueError(
            f"models.{name}: the ImageNet classifier predicts {IMAGENET_CLASSES} classes, but "
            f"{other} are labelled otherwise; restrict the model's `datasets`"
        )


def _check_variants(config: Mapping[str, Any], name: str) -> None:
    applicable = {f"{m}/{v}" for m, v in applicable_variants(config, name)}
    unknown = sorted(set(config["models"][name].get("variants") or ()) - applicable)
    if unknown:
        raise ValueError(
            f"models.{name}.variants: {unknown} are not method/variant pairs that apply to "
            f"its head and backbone ({sorted(applicable)})"
        )


def job_gpus(config: Mapping[str, Any], rule: str) -> int:
    """GPUs a job of ``rule`` asks Snakemake for (the ``gpu`` resource; SLURM's ``--gpus``).

    ``train_model``: ``performance.gpus`` (N > 1 = DDP over N GPUs); inference rules
    (``compute_logits``, ``extract_cams``): one GPU, or none when ``performance.gpus`` is 0
    (a machine or cluster without GPUs).
    """
    gpus = int(config["performance"]["gpus"])
    return gpus if rule == "train_model" else min(1, gpus)


def weights_dir(backbone: str) -> str:
    """The staging folder of a backbone's ImageNet weights (``stage_weights`` rule)."""
    return f"{RESULTS}/weights/{backbone}"


def weight_requests(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Backbone -> ``{"configured": path or None, "required": bool}`` for every backbone a
    model starts from ImageNet weights (no ``init_from``); ``required`` unless every such
    model allows training from scratch.

    Raises:
        ValueError: two models of one backbone configure different weights files.
    """
    requests: dict[str, dict[str, Any]] = {}
    for name, spec in config["models"].items():
        if spec.get("init_from") is not None:
            continue
        configured = spec.get("weights")
        request = requests.setdefault(
            spec["backbone"], {"configured": configured, "required": False, "model": name}
        )
        if request["configured"] != configured:
            raise ValueError(
                f"models.{name}.weights: {configured!r} differs from {request['configured']!r} "
                f"of models.{request['model']} (one ImageNet file per backbone)"
            )
        request["required"] |= not spec.get("allow_scratch", False)
    return {
        backbone: {"configured": r["configured"], "required": r["required"]}
        for backbone, r in requests.items()
    }


def variant_splits(
    config: Mapping[str, Any], method: str, variant: str, splits: Sequence[str]
) -> list[str]:
    """The ``splits`` a variant is evaluated on: those of its own ``splits`` list, if any."""
    chosen = config["methods"][method]["variants"][variant].get("splits")
    return [split for split in splits if chosen is None or split in chosen]


def cam_jobs(config: Mapping[str, Any]) -> list[CamJob]:
    """Every score-map job: model cell x its (method, variant) pairs x the splits of its
    dataset that the variant is evaluated on."""
    return [
        CamJob(run.dataset, run.model, run.seed, method, variant, split)
        for run in train_runs(config)
        for method, variant in variants_for(config, run.model)
        for split in variant_splits(config, method, variant, dataset_splits(config, run.dataset))
    ]


def model_maps(config: Mapping[str, Any], model: str) -> list[tuple[str, str, str, str]]:
    """The score maps one trained ``model`` yields, as (split, method, variant, path pattern);
    the pattern keeps ``{dataset}`` and ``{seed}`` as wildcards (one map job per model)."""
    return [
        (split, method, variant, cams_path("{dataset}", model, "{seed}", method, variant, split))
        for method, variant in variants_for(config, model)
        for split in variant_splits(config, method, variant, model_splits(config, model))
    ]


def logits_groups(config: Mapping[str, Any]) -> dict[tuple[str, ...], list[str]]:
    """Evaluated split lists -> the datasets that evaluate exactly those, in config order (one
    ``compute_logits`` rule per list: a rule's outputs cannot depend on its wildcards)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for dataset in config["datasets"]:
        groups.setdefault(tuple(dataset_splits(config, dataset)), []).append(dataset)
    return groups


def model_metrics(config: Mapping[str, Any], model: str) -> list[tuple[str, str, str, str]]:
    """The metric files one trained ``model`` yields, as (split, method, variant, protocol),
    in the order of ``model_metrics_paths`` (one evaluation job per model)."""
    return [
        (split, method, variant, protocol)
        for split, method, variant, _ in model_maps(config, model)
        for protocol in config["evaluation"]["protocols"]
    ]


def model_metrics_paths(config: Mapping[str, Any], model: str) -> list[str]:
    """Path patterns (``{dataset}``, ``{seed}`` kept) of ``model_metrics``."""
    return [
        metrics_path("{dataset}", model, "{seed}", method, variant, split, protocol)
        for split, method, variant, protocol in model_metrics(config, model)
    ]


def metric_files(config: Mapping[str, Any]) -> list[str]:
    """Every per-run metric JSON of the grid (all protocols)."""
    protocols = config["evaluation"]["protocols"]
    return [job.metrics(protocol) for job in cam_jobs(config) for protocol in protocols]


def variant_spec(config: Mapping[str, Any], method: str, variant: str) -> dict[str, Any]:
    """The variant's parameters: ``kind`` and its keyword arguments (not its ``splits``)."""
    spec = config["methods"][method]["variants"][variant]
    return {key: value for key, value in spec.items() if key != "splits"}


def figure_inputs(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """Inputs of ``plot_figures`` for one dataset: its manifest, the metric files of the figure
    split (``wsoleval`` when evaluated, for the curves) and the first seed's score maps, of the
    ``figures.variants`` selection (all when omitted)."""
    seed = config["seeds"][0]
    protocol = "wsoleval" if "wsoleval" in config["evaluation"]["protocols"] else "paper"
    jobs = _figure_jobs(config, dataset)
    return {
        "manifest": f"{RESULTS}/data/{dataset}/dataset.json",
        "metrics": [j.metrics(protocol) for j in jobs],
        "cams": [j.cams for j in jobs if j.seed == seed],
    }


def _figure_jobs(config: Mapping[str, Any], dataset: str) -> list[CamJob]:
    """The score-map jobs of ``dataset`` on the figure split, of the ``figures.variants``
    selection (all when omitted)."""
    split = config["figures"]["split"]
    shown = config["figures"].get("variants")
    return [
        j
        for j in cam_jobs(config)
        if j.dataset == dataset
        and j.split == split
        and (not shown or f"{j.method}/{j.variant}" in shown)
    ]


def final_targets(config: Mapping[str, Any]) -> list[str]:
    """What ``rule all`` asks for: tables, the aggregated metrics and the figures of every
    dataset with score maps to show."""
    return [
        f"{RESULTS}/tables/metrics.csv",
        *table_paths(config["tables"]),
        *(
            path
            for dataset in config["datasets"]
            if _figure_jobs(config, dataset)
            for path in figure_paths(dataset)
        ),
    ]


def wildcard_constraints(config: Mapping[str, Any]) -> dict[str, str]:
    """Regexes that make every wildcard match only names the config defines."""

    def alternatives(names: Any) -> str:
        return "|".join(sorted(str(n) for n in names))

    variants = {v for spec in config["methods"].values() for v in spec["variants"]}
    return {
        "dataset": alternatives(config["datasets"]),
        "model": alternatives(config["models"]),
        "backbone": alternatives({m["backbone"] for m in config["models"].values()}),
        "seed": r"\d+",
        "method": alternatives(config["methods"]),
        "variant": alternatives(variants),
        "split": alternatives(SPLITS),
        "protocol": alternatives(PROTOCOLS),
        "figure": alternatives(FIGURES),
    }
