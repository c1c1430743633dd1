# mnpo: weakly supervised object localization benchmark around MNPO / MNPOs.
#
# Results layout (built by mnpo.grid, the single source of paths):
#   results/data/{dataset}/dataset.json, metadata/{split}/          prepare_dataset
#   results/models/{dataset}/{model}/seed{seed}/{best,last}.pt      train_model
#   results/logits/{dataset}/{model}/seed{seed}/{split}.npz         compute_logits (all splits)
#   results/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz     extract_cams_<model>
#   results/metrics/.../{split}.{protocol}.json                     evaluate
#   results/tables/metrics.csv, {table}.{md,csv,tex}                aggregate_metrics, make_tables
#   results/figures/{dataset}/{cam_grid,threshold_curves}.{png,pdf} plot_figures
from snakemake.utils import min_version

min_version("9.0")


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
