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


def init_checkpoint(wildcards):
    source = config["models"][wildcards.model].get("init_from")
    if source is None:
        return {}
    return {"init": checkpoint_of(wildcards.dataset, source, wildcards.seed)}


def checkpoint_of(dataset, model, seed):
    run = grid.TrainRun(dataset, model, int(seed))
    return f"{run.model_dir}/{config['evaluation']['checkpoint']}.pt"


def selected_checkpoint(wildcards):
    return checkpoint_of(wildcards.dataset, wildcards.model, wildcards.seed)


def run_keys(wildcards):
    model = config["models"][wildcards.model]
    return {
        "dataset": wildcards.dataset,
        "model": wildcards.model,
        "backbone": model["backbone"],
        "head": model["head"],
        "seed": int(wildcards.seed),
        "method": wildcards.method,
        "variant": wildcards.variant,
        "split": wildcards.split,
        "protocol": wildcards.protocol,
    }


def evaluation_settings(wildcards):
    return {
        key: config["evaluation"][key] for key in ("cam_curve_interval", "iou_thresholds")
    } | {"size": config["datasets"][wildcards.dataset]["input_size"]}


def table_spec(wildcards):
    return config["tables"][wildcards.table]


def figure_inputs(wildcards):
    return grid.figure_inputs(config, wildcards.dataset)
