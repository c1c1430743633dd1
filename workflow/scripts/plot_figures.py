"""plot_figures: thin wrapper over mnpo.steps.plot_figures."""

from snakemake.script import snakemake

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
