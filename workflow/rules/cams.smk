# ---------------------------------------------------------------------------------------------
# compute_logits: classification logits of a split, once per trained model (single resize for
# the wsoleval protocol, ten-crop for the paper protocol).
rule compute_logits:
    input:
        manifest=manifest,
        checkpoint=selected_checkpoint,
    output:
        logits="results/logits/{dataset}/{model}/seed{seed}/{split}.npz",
    params:
        dataset=dataset_spec,
        batch_size=config["evaluation"]["batch_size"],
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    log:
        "logs/compute_logits/{dataset}/{model}/seed{seed}/{split}.log",
    script:
        "../scripts/compute_logits.py"


# ---------------------------------------------------------------------------------------------
# extract_cams: ground-truth-class score maps of one variant at feature resolution.
rule extract_cams:
    input:
        manifest=manifest,
        checkpoint=selected_checkpoint,
    output:
        cams="results/cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.npz",
    params:
        dataset=dataset_spec,
        variant=variant_spec,
        batch_size=config["evaluation"]["batch_size"],
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    log:
        "logs/extract_cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.log",
    benchmark:
        "results/benchmarks/extract_cams/{dataset}/{model}/seed{seed}/{method}/{variant}/{split}.tsv"
    script:
        "../scripts/extract_cams.py"
