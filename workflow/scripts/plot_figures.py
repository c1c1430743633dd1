# ruff: noqa: F821
"""plot_figures: thin wrapper over mnpo.steps.plot_figures.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.plot_figures(
        snakemake.input.manifest,
        snakemake.input.metrics,
        snakemake.input.cams,
        snakemake.params.settings,
        dict(snakemake.output.items()),
    )


main()
