# ruff: noqa: F821
"""extract_cams: thin wrapper over mnpo.steps.extract_cams.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    jobs = [
        (split, spec, path)
        for (split, _, _, spec), path in zip(snakemake.params.jobs, snakemake.output, strict=True)
    ]
    steps.extract_cams(
        snakemake.input.manifest,
        snakemake.input.checkpoint,
        snakemake.params.dataset,
        jobs,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
    )


main()
