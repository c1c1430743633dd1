"""train_model: thin wrapper over mnpo.steps.train_model."""

from snakemake.script import snakemake

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.train_model(
        snakemake.input.manifest,
        snakemake.params.dataset,
        snakemake.params.model,
        int(snakemake.wildcards.seed),
        dict(snakemake.output.items()),
        threads=snakemake.threads,
    )


main()
