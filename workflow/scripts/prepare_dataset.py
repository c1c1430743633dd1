"""prepare_dataset: thin wrapper over mnpo.steps.prepare_dataset."""

from pathlib import Path

from snakemake.script import snakemake

from mnpo import steps


def main() -> None:
    steps.setup_logging(snakemake.log[0])
    manifest = Path(snakemake.output.manifest)
    steps.prepare_dataset(snakemake.wildcards.dataset, snakemake.params.spec, manifest.parent)


main()
