# ---------------------------------------------------------------------------------------------
# compute_logits: classification logits of every evaluated split, once per trained model
# (single resize for the wsoleval protocol; ten-crop for the paper protocol, on the
# evaluation.tencrop_splits), on one GPU where there is one (grid.job_gpus). A rule's outputs
# cannot depend on its wildcards, so there is one rule per list of evaluated splits
# (datasets.<name>.splits, default evaluation.splits):
# `compute_logits` for the datasets evaluating evaluation.splits, `compute_logits_<splits>`
# (e.g. compute_logits_test for photos) for the others.
for _splits, _datasets in grid.logits_groups(config).items():

    rule:
        name:
            (
                "compute_logits"
                if list(_splits) == list(config["evaluation"]["splits"])
                else "compute_logits_" + "_".join(_splits)
            )
        input:
            manifest=manifest,
            checkpoint=selected_checkpoint,
        output:
            [grid.logits_path("{dataset}", "{model}", "{seed}", split) for split in _splits],
        params:
            dataset=dataset_spec,
            splits=list(_splits),
            tencrop_splits=config["evaluation"]["tencrop_splits"],
            batch_size=config["evaluation"]["batch_size"],
        wildcard_constraints:
            dataset="|".join(_datasets),
        threads: 2
        resources:
            gpu=grid.job_gpus(config, "compute_logits"),
            mem_mb=4000,
            runtime=60,
        log:
            "logs/compute_logits/{dataset}/{model}/seed{seed}.log",
        benchmark:
            "results/benchmarks/compute_logits/{dataset}/{model}/seed{seed}.tsv"
        script:
            "../scripts/compute_logits.py"


# ---------------------------------------------------------------------------------------------
# extract_cams_<model>: every score map of one trained model (all its variants and splits) in
# one job, which loads the model and imports torch once (about 10 s per process on a CPU), on
# one GPU where there is one (grid.job_gpus).
# One rule per model, so that each job's outputs are explicit files; editing a variant re-runs
# the map jobs of the models it applies to and what follows, never training or logits.
for _model in config["models"]:
    _maps = grid.model_maps(config, _model)
    if not _maps:
        continue

    rule:
        name:
            f"extract_cams_{_model.replace('-', '_')}"
        input:
            manifest=manifest,
            checkpoint=lambda wildcards, model=_model: checkpoint_of(
                wildcards.dataset, model, wildcards.seed
            ),
        output:
            [path for *_, path in _maps],
        params:
            dataset=dataset_spec,
            jobs=[
                (split, method, variant, grid.variant_spec(config, method, variant))
                for split, method, variant, _ in _maps
            ],
            batch_size=config["evaluation"]["batch_size"],
        threads: 1
        resources:
            gpu=grid.job_gpus(config, "extract_cams"),
            mem_mb=4000,
            runtime=60,
        log:
            f"logs/extract_cams/{{dataset}}/{_model}/seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/extract_cams/{{dataset}}/{_model}/seed{{seed}}.tsv"
        script:
            "../scripts/extract_cams.py"
