# ruff: noqa: F821
"""train_model: thin wrapper over mnpo.steps.train_model.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from pathlib import Path

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    steps.train_model(
        snakemake.input.manifest,
        snakemake.params.dataset,
        snakemake.params.model,
        int(snakemake.wildcards.seed),
        dict(snakemake.output.items()),
        threads=snakemake.threads,
        init_checkpoint=snakemake.input.get("init"),
        staged=Path(staged).parent if (staged := snakemake.input.get("staged")) else None,
        performance=snakemake.config["performance"],
    )


main()
