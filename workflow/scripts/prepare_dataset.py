# ruff: noqa: F821
"""prepare_dataset: thin wrapper over mnpo.steps.prepare_dataset.

The `snakemake` object is injected by Snakemake's script preamble.
"""

from pathlib import Path

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    manifest = Path(snakemake.output.manifest)
    steps.prepare_dataset(snakemake.wildcards.dataset, snakemake.params.spec, manifest.parent)


main()
