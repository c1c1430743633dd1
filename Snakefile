# mnpo: weakly supervised object localization benchmark around MNPO / MNPOs.
#
# Results layout (built by mnpo.grid, the single source of paths):
#   results/data/{dataset}/dataset.json, metadata/{split}/          prepare_dataset
#   results/models/{dataset}/{model}/seed{seed}/{best,last}.pt      train_model, stage_pretrained
#   results/logits/{dataset}/{model}/seed{seed}/{split}.npz         compute_logits (all splits)
#   results/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz     extract_cams_<model>
#   results/weights/{backbone}/staged.json (+ the weights file)       stage_weights
#   results/metrics/.../{split}.{protocol}.json                     evaluate_<model>
#   results/tables/metrics.csv, {table}.{md,csv,tex}                aggregate_metrics, make_tables
#   results/figures/{dataset}/{cam_grid,threshold_curves}.{png,pdf} plot_figures
from snakemake.utils import min_version

min_version("9.0")


# The embedded default grid, unless a grid is given with --configfile: that one replaces it
# (no merging, so the default's datasets and models never leak into another grid).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/cams.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(config),
