# ruff: noqa: F821
"""aggregate_metrics: thin wrapper over mnpo.steps.aggregate_metrics.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.aggregate_metrics(snakemake.input.metrics, snakemake.output.csv)


main()
