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
