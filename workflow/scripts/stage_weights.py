# ruff: noqa: F821
"""stage_weights: thin wrapper over mnpo.steps.stage_weights.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from pathlib import Path

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.stage_weights(
        snakemake.wildcards.backbone,
        snakemake.params.request["configured"],
        Path(snakemake.output.staged).parent,
        required=snakemake.params.request["required"],
    )


main()
