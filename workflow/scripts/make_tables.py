"""make_tables: thin wrapper over mnpo.steps.make_tables."""

from snakemake.script import snakemake

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.make_tables(
        snakemake.input.metrics,
        snakemake.wildcards.table,
        snakemake.params.spec,
        dict(snakemake.output.items()),
    )


main()
