# ---------------------------------------------------------------------------------------------
# compute_logits: classification logits of every evaluated split, once per trained model
# (single resize for the wsoleval protocol, ten-crop for the paper protocol).
rule compute_logits:
    input:
        manifest=manifest,
        checkpoint=selected_checkpoint,
    output:
        expand(
            "results/logits/{{dataset}}/{{model}}/seed{{seed}}/{split}.npz",
            split=config["evaluation"]["splits"],
        ),
    params:
        dataset=dataset_spec,
        splits=config["evaluation"]["splits"],
        batch_size=config["evaluation"]["batch_size"],
    threads: 2
    resources:
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
# one job, which loads the model and imports torch once (about 10 s per process on a CPU).
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
            mem_mb=4000,
            runtime=60,
        log:
            f"logs/extract_cams/{{dataset}}/{_model}/seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/extract_cams/{{dataset}}/{_model}/seed{{seed}}.tsv"
        script:
            "../scripts/extract_cams.py"
