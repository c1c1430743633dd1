# ---------------------------------------------------------------------------------------------
# prepare_dataset: generate (synthetic) or convert a dataset into wsolevaluation's metadata
# format, plus the manifest every downstream rule reads.
rule prepare_dataset:
    output:
        manifest="results/data/{dataset}/dataset.json",
    params:
        spec=dataset_spec,
    log:
        "logs/prepare_dataset/{dataset}.log",
    script:
        "../scripts/prepare_dataset.py"


# ---------------------------------------------------------------------------------------------
# stage_weights: a backbone's ImageNet weights (configured file, package file or torch hub
# cache), checksum-verified and linked into results/weights/ on the submitting machine, so
# training jobs on compute nodes need neither network nor hub cache.
rule stage_weights:
    output:
        staged="results/weights/{backbone}/staged.json",
    params:
        request=weight_request,
    log:
        "logs/stage_weights/{backbone}.log",
    script:
        "../scripts/stage_weights.py"
