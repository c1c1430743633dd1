# ---------------------------------------------------------------------------------------------
# evaluate: one protocol on one split's score maps -> a flat JSON carrying its run keys.
rule evaluate:
    input:
        manifest=manifest,
        cams="results/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz",
        logits="results/logits/{dataset}/{model}/seed{seed}/{split}.npz",
    output:
        metrics="results/metrics/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.{protocol}.json",
    params:
        run=run_keys,
        settings=evaluation_settings,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/evaluate/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.{protocol}.log",
    script:
        "../scripts/evaluate.py"
