# ruff: noqa: F821
"""make_tables: thin wrapper over mnpo.steps.make_tables.

The `snakemake` object is injected by Snakemake's script preamble.
"""

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
