# ---------------------------------------------------------------------------------------------
# evaluate_<model>: every metric JSON of one trained model (all its variants, splits and
# protocols; each a flat JSON carrying its run keys) in one process, which imports the
# evaluator once instead of once per file (about 1.5 s each). One rule per model, like
# extract_cams_<model>: editing a variant re-runs that model's map and metric jobs only.
for _model in config["models"]:
    _metrics = grid.model_metrics(config, _model)
    if not _metrics:
        continue

    rule:
        name:
            f"evaluate_{_model.replace('-', '_')}"
        input:
            manifest=manifest,
            cams=sorted({path for *_, path in grid.model_maps(config, _model)}),
            logits=lambda wildcards, model=_model: logits_paths(wildcards, model),
        output:
            grid.model_metrics_paths(config, _model),
        params:
            runs=lambda wildcards, model=_model: metric_runs(wildcards, model),
            settings=evaluation_settings,
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        log:
            f"logs/evaluate/{{dataset}}/{_model}/seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/evaluate/{{dataset}}/{_model}/seed{{seed}}.tsv"
        script:
            "../scripts/evaluate.py"
