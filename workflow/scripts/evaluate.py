"""evaluate: thin wrapper over mnpo.steps.evaluate."""

from snakemake.script import snakemake

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.evaluate(
        snakemake.input.manifest,
        snakemake.input.cams,
        snakemake.input.logits,
        snakemake.params.keys,
        snakemake.params.settings,
        snakemake.output.metrics,
        workers=snakemake.threads,
    )


main()
