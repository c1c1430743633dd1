"""SLURM through snakemake-executor-plugin-slurm and profiles/slurm, on a real one-node cluster.

tests/slurm/cluster.sh starts the cluster (root; it installs Debian's SLURM packages when they
are missing) and the tests stop what it started. Where the cluster cannot be started, the tests
that need it are skipped with the reason, unless the environment variable CI is set (.ci/run
sets it): there, that is a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pandas as pd
import pytest
import yaml
from test_workflow import REPO, TINY, copy_workflow, snakemake

PROFILE = REPO / "profiles" / "slurm"
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
REQUIRED = bool(os.environ.get("CI"))
# the local reference run (conftest.tiny_run) scales every rule to at most 2 threads; the SLURM
# run must use the same thread counts for its numbers to be the same
THREADS = "2"
# faster polling than the profile's 20 s (MinJobAge=300 on the test cluster allows it); outputs
# are on a local file system, so no NFS latency to wait for
FAST = ("--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5")
# SLURM's default MinJobAge: the plugin silently falls back to sacct (which hangs without
# slurmdbd) when 3 x the initial status-check delay exceeds it
MIN_JOB_AGE_S = 300
LOCAL_RULES = {"aggregate_metrics", "make_tables", "plot_figures"}


@dataclass(frozen=True)
class SlurmJob:
    """One SLURM job of a Snakemake run, as squeue lists it."""

    job_id: str
    state: str
    gpus: str  # tres-per-job, e.g. "gres:gpu:1"; "N/A" when none
    rule: str


def cluster(action: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``tests/slurm/cluster.sh ACTION`` (with one fake GPU, which train_model asks for)."""
    return subprocess.run(
        ["bash", str(CLUSTER), action],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MNPO_SLURM_GPUS": "1"},
    )


def slurm_jobs(prefix: str) -> list[SlurmJob]:
    """The SLURM jobs whose name starts with ``prefix`` (finished ones stay for MinJobAge)."""
    listing = subprocess.run(
        [
            "squeue",
            "--states=all",
            "--noheader",
            "-O",
            "JobID:|,Name:|,State:|,tres-per-job:|,Comment:",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    jobs = []
    for line in listing.splitlines():
        job_id, name, state, gpus, comment = (field.strip() for field in line.split("|"))
        if name.startswith(prefix):
            rule = comment.removeprefix("rule_").split("_wildcards_", 1)[0]
            jobs.append(SlurmJob(job_id, state, gpus, rule))
    return jobs


def snakemake_on_slurm(workdir: Path, profile: Path, *args: str, timeout: float) -> list[SlurmJob]:
    """Run Snakemake in ``workdir`` through SLURM with ``profile``; return its SLURM jobs.

    The run is bounded: past ``timeout`` seconds it is interrupted (Snakemake then cancels its
    jobs), killed 60 s later if still alive, and its remaining SLURM jobs are cancelled.
    """
    prefix = f"mnpotest{uuid.uuid4().hex[:8]}"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--workflow-profile",
        str(profile),
        "--slurm-jobname-prefix",
        prefix,
        *FAST,
        *args,
    ]
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        left = [job.job_id for job in slurm_jobs(prefix) if job.state in ("PENDING", "RUNNING")]
        if left:
            subprocess.run(["scancel", *left], timeout=30, check=False)
        raise AssertionError(f"{' '.join(cmd)} ran past {timeout} s:\n{output[-6000:]}") from None
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{output[-6000:]}")
    return slurm_jobs(prefix)


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """A running one-node SLURM cluster; stopped afterwards if this fixture started it."""

    def unavailable(reason: str) -> NoReturn:
        if REQUIRED:
            pytest.fail(f"CI is set, so SLURM must run, but {reason}")
        pytest.skip(reason)

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        unavailable("starting a SLURM cluster (tests/slurm/cluster.sh) needs root")
    was_up = cluster("status").returncode == 0
    try:
        started = cluster("start", timeout=600)
        failure = "" if started.returncode == 0 else f"failed:\n{started.stderr[-3000:]}"
    except subprocess.TimeoutExpired:
        failure = "took more than 600 s"
    if failure:
        if not was_up:
            cluster("stop")  # whatever it started before failing
        unavailable(f"tests/slurm/cluster.sh start {failure}")
    yield
    if not was_up:
        stopped = cluster("stop")
        assert stopped.returncode == 0, stopped.stderr


def test_profile_is_valid_and_uses_squeue_and_retries(tmp_path: Path) -> None:
    """Snakemake and the plugin accept every key (no cluster needed for a dry-run), and the
    settings without which a run hangs (sacct) or a failed job ends the run are there."""
    snakemake(copy_workflow(tmp_path), "-n", "--workflow-profile", "profiles/slurm")
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert 3 * profile["slurm-init-seconds-before-status-checks"] <= MIN_JOB_AGE_S
    assert profile["retries"] >= 1
    assert "cpus_per_task" not in profile["default-resources"], "it would override threads"


@pytest.mark.slow
def test_tiny_grid_on_slurm_equals_the_local_run(
    slurm_cluster: None, tiny_run: Path, tmp_path: Path
) -> None:
    """The tiny grid submitted through SLURM gives exactly the local run's numbers.

    Exact equality, not a tolerance: both runs execute the same code on the same CPU with the
    same thread counts, and CPU results are then bit-for-bit reproducible; any difference means
    a job ran differently (other threads, inputs or settings) under SLURM.
    """
    work = copy_workflow(tmp_path)
    (work / "config" / "config.yaml").write_text(TINY.read_text())

    jobs = snakemake_on_slurm(work, Path("profiles/slurm"), "--max-threads", THREADS, timeout=900)

    assert all(job.state == "COMPLETED" for job in jobs), jobs
    rules = {job.rule for job in jobs}
    assert {"prepare_dataset", "train_model"} <= rules
    assert not rules & LOCAL_RULES, "aggregation, tables and figures stay local rules"
    gpu_rules = ("train_model", "compute_logits", "extract_cams_")
    for job in jobs:
        assert (job.gpus == "gres:gpu:1") == job.rule.startswith(gpu_rules), job
    keys = ["dataset", "model", "seed", "method", "variant", "split", "protocol", "metric"]
    local = pd.read_csv(tiny_run / "results" / "tables" / "metrics.csv").sort_values(keys)
    slurm = pd.read_csv(work / "results" / "tables" / "metrics.csv").sort_values(keys)
    pd.testing.assert_frame_equal(
        slurm.reset_index(drop=True), local.reset_index(drop=True), check_exact=True
    )


FLAKY_SNAKEFILE = """
localrules:
    gather,


rule gather:
    input:
        "cancelled.txt",
        "failed.txt",
    output:
        "gathered.txt",
    shell:
        "cat {input} > {output}"


# cancels its own SLURM job on the first attempt (scancel: SLURM state CANCELLED)
rule cancelled_once:
    output:
        "cancelled.txt",
    shell:
        '''
        if [ ! -e cancelled.marker ]; then
            touch cancelled.marker
            scancel "$SLURM_JOB_ID"
            sleep 120
        fi
        echo "cancelled_once $SLURM_JOB_ID" > {output}
        '''


# exits non-zero on the first attempt (SLURM state FAILED)
rule failed_once:
    output:
        "failed.txt",
    shell:
        '''
        if [ ! -e failed.marker ]; then
            touch failed.marker
            exit 3
        fi
        echo "failed_once $SLURM_JOB_ID" > {output}
        '''
"""


@pytest.mark.slow
def test_a_job_that_fails_once_is_resubmitted(slurm_cluster: None, tmp_path: Path) -> None:
    """With the profile's `retries`, a cancelled or failed SLURM job is submitted again."""
    (tmp_path / "Snakefile").write_text(FLAKY_SNAKEFILE)

    jobs = snakemake_on_slurm(tmp_path, PROFILE, timeout=300)

    states = {
        rule: sorted(j.state for j in jobs if j.rule == rule)
        for rule in ("cancelled_once", "failed_once")
    }
    assert states == {
        "cancelled_once": ["CANCELLED", "COMPLETED"],
        "failed_once": ["COMPLETED", "FAILED"],
    }, jobs
    completed = {job.rule: job.job_id for job in jobs if job.state == "COMPLETED"}
    assert (tmp_path / "gathered.txt").read_text().split() == [
        "cancelled_once",
        completed["cancelled_once"],
        "failed_once",
        completed["failed_once"],
    ]
    assert "gather" not in {job.rule for job in jobs}
