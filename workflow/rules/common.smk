# Helpers shared by the rules: config validation, grid expansion and per-job config slices.
# Job parameters are passed as config slices through `params:`, so editing one variant,
# model or schedule re-runs only the jobs that depend on it.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir)))

from mnpo import grid


validate(config, schema="../schemas/config.schema.yaml")
grid.check_models(config)


wildcard_constraints:
    **grid.wildcard_constraints(config),


localrules:
    all,
    stage_weights,
    aggregate_metrics,
    make_tables,
    plot_figures,


def final_targets(config):
    return grid.final_targets(config)


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def model_spec(wildcards):
    return config["models"][wildcards.model]


def variant_spec(wildcards):
    return grid.variant_spec(config, wildcards.method, wildcards.variant)


def manifest(wildcards):
    return f"{grid.RESULTS}/data/{wildcards.dataset}/dataset.json"


def start_point(wildcards):
    """A trained model to start from (`init_from`), else the staged ImageNet weights."""
    spec = config["models"][wildcards.model]
    if spec.get("init_from") is None:
        return {"staged": f"{grid.weights_dir(spec['backbone'])}/staged.json"}
    return {"init": checkpoint_of(wildcards.dataset, spec["init_from"], wildcards.seed)}


def weight_request(wildcards):
    return grid.weight_requests(config)[wildcards.backbone]


def checkpoint_of(dataset, model, seed):
    run = grid.TrainRun(dataset, model, int(seed))
    return f"{run.model_dir}/{config['evaluation']['checkpoint']}.pt"


def selected_checkpoint(wildcards):
    return checkpoint_of(wildcards.dataset, wildcards.model, wildcards.seed)


def logits_paths(wildcards, model):
    run = grid.TrainRun(wildcards.dataset, model, int(wildcards.seed))
    splits = dict.fromkeys(split for split, *_ in grid.model_maps(config, model))
    return [run.logits(split) for split in splits]


def metric_runs(wildcards, model):
    """One entry per metric file of `evaluate_<model>`: its inputs and its run keys."""
    spec = config["models"][model]
    run = grid.TrainRun(wildcards.dataset, model, int(wildcards.seed))
    return [
        {
            "cams": grid.cams_path(run.dataset, model, run.seed, method, variant, split),
            "logits": run.logits(split),
            "keys": {
                "dataset": run.dataset,
                "model": model,
                "backbone": spec["backbone"],
                "head": spec["head"],
                "seed": run.seed,
                "method": method,
                "variant": variant,
                "split": split,
                "protocol": protocol,
            },
        }
        for split, method, variant, protocol in grid.model_metrics(config, model)
    ]


def evaluation_settings(wildcards):
    return {
        key: config["evaluation"][key] for key in ("cam_curve_interval", "iou_thresholds")
    } | {"size": config["datasets"][wildcards.dataset]["input_size"]}


def table_spec(wildcards):
    return config["tables"][wildcards.table]


def figure_inputs(wildcards):
    return grid.figure_inputs(config, wildcards.dataset)
