# ruff: noqa: F821
"""compute_logits: thin wrapper over mnpo.steps.compute_logits.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.compute_logits(
        snakemake.input.manifest,
        snakemake.input.checkpoint,
        dict(zip(snakemake.params.splits, snakemake.output, strict=True)),
        snakemake.params.dataset,
        tencrop_splits=snakemake.params.tencrop_splits,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
    )


main()
