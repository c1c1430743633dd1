# ---------------------------------------------------------------------------------------------
# train_model: one (dataset, model, seed) cell; best-on-val and last checkpoints, per-epoch
# history. Resumable: a killed job restarts from resume.pt in the same folder. A model with
# `init_from` starts from that trained model (same dataset and seed): a dependency.
rule train_model:
    input:
        unpack(init_checkpoint),
        manifest=manifest,
    output:
        best="results/models/{dataset}/{model}/seed{seed}/best.pt",
        last="results/models/{dataset}/{model}/seed{seed}/last.pt",
        history="results/models/{dataset}/{model}/seed{seed}/history.csv",
    params:
        dataset=dataset_spec,
        model=model_spec,
    threads: 4
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_model/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_model/{dataset}/{model}/seed{seed}.tsv"
    script:
        "../scripts/train_model.py"
