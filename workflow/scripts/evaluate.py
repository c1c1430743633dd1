# ruff: noqa: F821
"""evaluate_<model>: thin wrapper over mnpo.steps.evaluate_runs.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.evaluate_runs(
        snakemake.input.manifest,
        snakemake.params.runs,
        snakemake.params.settings,
        list(snakemake.output),
    )


main()
