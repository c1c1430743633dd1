# ruff: noqa: F821
"""evaluate: thin wrapper over mnpo.steps.evaluate.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.evaluate(
        snakemake.input.manifest,
        snakemake.input.cams,
        snakemake.input.logits,
        snakemake.params.run,
        snakemake.params.settings,
        snakemake.output.metrics,
    )


main()
