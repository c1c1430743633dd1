"""Fixtures shared by several test modules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_workflow import TINY, copy_workflow, snakemake


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid (tests/config/tiny.yaml) run end to end once, locally on 2 cores.

    Session-scoped: test_workflow.py checks it, test_slurm.py compares a SLURM run with it.
    """
    work = copy_workflow(tmp_path_factory.mktemp("tiny"))
    shutil.copy2(TINY, work / "config" / "config.yaml")
    snakemake(work, "--cores", "2")
    return work
