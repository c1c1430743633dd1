# ruff: noqa: F821
"""stage_pretrained: thin wrapper over mnpo.steps.stage_pretrained.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from pathlib import Path

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.stage_pretrained(
        snakemake.params.model,
        snakemake.params.dataset,
        int(snakemake.wildcards.seed),
        Path(snakemake.input.staged).parent,
        dict(snakemake.output.items()),
    )


main()
