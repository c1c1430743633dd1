# ---------------------------------------------------------------------------------------------
# train_model: one (dataset, model, seed) cell; best-on-val and last checkpoints, per-epoch
# history. Resumable: a killed job restarts from resume.pt in the same folder. A model with
# `init_from` starts from that trained model (same dataset and seed), any other model from the
# staged ImageNet weights (stage_weights): both are dependencies. `performance` (speed settings,
# read from the config by the script: editing them re-runs nothing) sets the GPUs per job; with
# gpus N > 1 the job asks for gpu=N and trains as N DDP processes under torchrun; gpus 0 asks
# for none (a machine or cluster without GPUs).
rule train_model:
    input:
        unpack(start_point),
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
        gpu=grid.job_gpus(config, "train_model"),
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train_model/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_model/{dataset}/{model}/seed{seed}.tsv"
    script:
        "../scripts/train_model.py"


# ---------------------------------------------------------------------------------------------
# stage_pretrained: a `pretrained: imagenet` model is not trained; its ImageNet classifier (the
# staged weights: stages and 1000-way FC, strictly mapped) becomes its best/last checkpoints,
# so compute_logits, extract_cams_<model> and evaluation treat it as any trained model. It runs
# once per dataset (first seed only, grid.model_seeds) and takes precedence over train_model,
# whose outputs it shares.
if grid.pretrained_models(config):

    rule stage_pretrained:
        localrule: True
        input:
            staged=lambda wildcards: (
                f"{grid.weights_dir(config['models'][wildcards.model]['backbone'])}/staged.json"
            ),
        output:
            best="results/models/{dataset}/{model}/seed{seed}/best.pt",
            last="results/models/{dataset}/{model}/seed{seed}/last.pt",
        params:
            dataset=dataset_spec,
            model=model_spec,
        wildcard_constraints:
            model="|".join(grid.pretrained_models(config)),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        log:
            "logs/stage_pretrained/{dataset}/{model}/seed{seed}.log",
        script:
            "../scripts/stage_pretrained.py"

    ruleorder: stage_pretrained > train_model
