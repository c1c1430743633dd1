"""The Snakemake workflow: dry-runs, a tiny end-to-end run, rerun triggers, config errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = REPO / "tests" / "config" / "tiny.yaml"


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the project's workflow copied into ``workdir``."""
    cmd = [
        *SNAKEMAKE,
        "--directory",
        str(workdir),
        "--snakefile",
        str(workdir / "Snakefile"),
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow files (so edits and results stay in ``dest``)."""
    for name in ("Snakefile", "workflow", "config", "profiles"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name)
        else:
            shutil.copy2(source, dest / name)
    return dest


def planned_jobs(stdout: str) -> dict[str, int]:
    """Rule name -> number of jobs a dry-run (``-n``) would run, from its job-stats table."""
    jobs: dict[str, int] = {}
    table = False
    for line in stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            table = True
        elif table and parts and parts[0] == "total":
            break
        elif table and len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


def planned_rules(stdout: str) -> set[str]:
    return set(planned_jobs(stdout))


def test_default_config_dry_run_lists_every_rule(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    tic = time.perf_counter()
    done = snakemake(work, "-n", "--cores", "2")
    elapsed = time.perf_counter() - tic
    assert planned_rules(done.stdout) == {
        "all",
        "prepare_dataset",
        "train_model",
        "stage_pretrained",
        "compute_logits",
        "compute_logits_test",
        "extract_cams_efficientnet_lite0_cam",
        "extract_cams_efficientnet_lite0_mnpo",
        "extract_cams_efficientnet_lite0_imagenet",
        "extract_cams_resnet18_cam",
        "extract_cams_resnet18_mnpo",
        "evaluate_efficientnet_lite0_cam",
        "evaluate_efficientnet_lite0_mnpo",
        "evaluate_efficientnet_lite0_imagenet",
        "evaluate_resnet18_cam",
        "evaluate_resnet18_mnpo",
        "stage_weights",
        "aggregate_metrics",
        "make_tables",
        "plot_figures",
    }
    assert elapsed < 30, "a dry-run must stay fast (benchmark target: < 3 s)"


def test_cpu_profile_runs_training_jobs_on_one_thread_without_a_gpu_cap(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    done = snakemake(work, "-n", "--workflow-profile", "profiles/cpu")
    blocks = [b for b in done.stdout.split("\n\n") if "rule train_model:" in b]
    assert len(blocks) == 8
    for block in blocks:
        assert "threads:" not in block  # Snakemake prints threads only when > 1
    profile = yaml.safe_load((work / "profiles" / "cpu" / "config.yaml").read_text())
    assert "resources" not in profile, "a gpu cap would serialise the jobs asking for a GPU"


def _job_gpus(plan: str, rule_prefix: str) -> set[str]:
    """The ``gpu=`` resource of every planned job of the rules named ``rule_prefix``*
    ("none" for a job without one), read from a dry-run's job listing."""
    found, rule = set(), None
    for line in plan.splitlines():
        if match := re.fullmatch(r"(?:local)?rule (\S+):", line.strip()):
            rule = match.group(1)
        elif line.strip().startswith("resources:") and rule and rule.startswith(rule_prefix):
            gpu = re.search(r"\bgpu=(\d+)", line)
            found.add(gpu.group(1) if gpu else "none")
            rule = None
    assert found, f"no planned job of {rule_prefix}"
    return found


def test_paper_config_plans_the_full_grid_without_data(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    done = snakemake(work, "-n", "--cores", "2", "--configfile", "config/paper.yaml")
    plan = planned_jobs(done.stdout)
    # 2 datasets x 8 models x 1 seed; nothing of the default grid merged in
    assert plan["prepare_dataset"] == 2 and plan["train_model"] == 16
    assert plan["stage_weights"] == 4
    assert "synthetic" not in done.stdout and "resnet18" not in done.stdout
    # one GPU per training job and per inference job (logits, maps), none for the rest
    for rule in ("train_model", "compute_logits", "extract_cams_vgg16_mnpo"):
        assert _job_gpus(done.stdout, rule) == {"1"}, rule
    assert _job_gpus(done.stdout, "evaluate_vgg16_mnpo") == {"none"}
    config = yaml.safe_load((work / "config" / "paper.yaml").read_text())
    config["performance"]["gpus"] = 0
    no_gpus = tmp_path / "no_gpus.yaml"
    no_gpus.write_text(yaml.safe_dump(config))
    done = snakemake(work, "-n", "--cores", "2", "--configfile", str(no_gpus))
    for rule in ("train_model", "compute_logits", "extract_cams_vgg16_mnpo"):
        assert _job_gpus(done.stdout, rule) <= {"0", "none"}, rule


def test_paper_config_names_the_missing_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = copy_workflow(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    args = ("--cores", "1", "--configfile", "config/paper.yaml")
    done = snakemake(work, "results/weights/vgg16/staged.json", *args, check=False)
    assert done.returncode != 0
    log = (work / "logs" / "stage_weights" / "vgg16.log").read_text()
    assert "no ImageNet weights for vgg16: expected one of vgg16-397923af.pth" in log
    done = snakemake(work, "results/data/cub/dataset.json", *args, check=False)
    assert done.returncode != 0
    log = (work / "logs" / "prepare_dataset" / "cub.log").read_text()
    assert "data/CUB_200_2011" in log


def test_unknown_config_key_is_rejected_by_name(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    config = yaml.safe_load(TINY.read_text())
    config["datasets"]["tiny"]["train"]["epoch"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    done = snakemake(work, "-n", "--cores", "1", "--configfile", str(bad), check=False)
    assert done.returncode != 0
    assert "epoch" in done.stderr + done.stdout
    assert "Additional properties are not allowed" in done.stderr + done.stdout


# tiny_run (the tiny grid run end to end once): tests/conftest.py, shared with test_slurm.py


@pytest.mark.slow
def test_tiny_grid_end_to_end_tables_and_figures(tiny_run: Path) -> None:
    results = tiny_run / "results"
    frame = pd.read_csv(results / "tables" / "metrics.csv")
    assert list(frame.columns) == [
        "dataset",
        "model",
        "backbone",
        "head",
        "seed",
        "method",
        "variant",
        "split",
        "protocol",
        "metric",
        "value",
    ]
    assert set(frame["protocol"]) == {"paper", "wsoleval"}
    assert set(frame["split"]) == {"val", "test"}
    assert set(frame["model"]) == {"efficientnet-lite0-cam", "resnet18-cam", "resnet18-mnpo"}
    ran = set(zip(frame["model"], frame["method"], frame["variant"], strict=True))
    assert ran == {
        (model, "cam", variant)
        for model in ("efficientnet-lite0-cam", "resnet18-cam")
        for variant in ("plain", "weight-pp")
    } | {
        ("efficientnet-lite0-cam", "mnpos", "default"),
        ("resnet18-cam", "mnpos", "default"),
        ("resnet18-cam", "mnpos", "stride8"),
        ("resnet18-mnpo", "mnpo", "weight-pp"),
        ("resnet18-mnpo", "mnpos", "default"),
        ("resnet18-mnpo", "mnpos", "stride8"),
    }, "a layer mapping without the backbone skips the variant; methods follow heads"
    metrics = set(frame["metric"])
    assert {"max_box_acc_50", "max_box_acc_v2", "pxap", "top1_cls", "gt_known_loc"} <= metrics
    assert frame["value"].between(0, 100).all(), "percentages lie in [0, 100]"
    # each (run, split, protocol) cell reports every metric once
    keys = ["model", "seed", "method", "variant", "split", "protocol", "metric"]
    assert not frame.duplicated(keys).any()
    for ext in ("md", "csv", "tex"):
        assert (results / "tables" / f"localization.{ext}").stat().st_size > 0
    table = pd.read_csv(results / "tables" / "localization.csv")
    assert set(table["protocol"]) == {"paper", "wsoleval"} and (table["seeds"] == 1).all()
    for figure in ("cam_grid", "threshold_curves"):
        for ext in ("png", "pdf"):
            assert (results / "figures" / "tiny" / f"{figure}.{ext}").stat().st_size > 1000
    history = pd.read_csv(results / "models/tiny/efficientnet-lite0-cam/seed0/history.csv")
    assert list(history["epoch"]) == [1, 2]
    logs = tiny_run / "logs" / "train_model" / "tiny"
    assert "from scratch" in (logs / "resnet18-cam" / "seed0.log").read_text()
    assert (
        "trained model results/models/tiny/resnet18-cam/seed0/last.pt"
        in (logs / "resnet18-mnpo" / "seed0.log").read_text()
    )
    assert set(table["variant"]) == {"plain", "weight-pp", "default"}


@pytest.mark.slow
def test_editing_a_figure_script_replans_only_the_figures(tiny_run: Path) -> None:
    assert planned_rules(snakemake(tiny_run, "-n", "--cores", "2").stdout) == set()
    script = tiny_run / "workflow" / "scripts" / "plot_figures.py"
    original = script.read_text()
    script.write_text(original + "\n# an edit\n")
    try:
        plan = planned_rules(snakemake(tiny_run, "-n", "--cores", "2").stdout)
    finally:
        script.write_text(original)
    assert plan == {"plot_figures", "all"}


@pytest.mark.slow
def test_editing_a_variant_replans_only_its_maps_and_what_follows(tiny_run: Path) -> None:
    config = yaml.safe_load((tiny_run / "config" / "config.yaml").read_text())
    config["methods"]["cam"]["variants"]["weight-pp"]["a"] = 3
    edited = tiny_run / "edited.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    done = snakemake(tiny_run, "-n", "--cores", "2", "--configfile", str(edited))
    plan = planned_jobs(done.stdout)
    assert "train_model" not in plan and "compute_logits" not in plan
    # the map and evaluation jobs of the two cam models (one each per model and seed);
    # nothing of the mnpo model
    redone = {r: n for r, n in plan.items() if r.startswith(("extract_cams", "evaluate"))}
    assert redone == {
        "extract_cams_efficientnet_lite0_cam": 1,
        "extract_cams_resnet18_cam": 1,
        "evaluate_efficientnet_lite0_cam": 1,
        "evaluate_resnet18_cam": 1,
    }
    assert {"aggregate_metrics", "make_tables", "plot_figures"} <= set(plan)


@pytest.mark.slow
def test_a_corrupt_image_fails_by_name_and_loses_nothing(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    data = work / "results" / "data" / "tiny"
    image_id = (data / "metadata" / "test" / "image_ids.txt").read_text().split()[0]
    (data / "images" / image_id).write_bytes(b"\x89PNG truncated")
    produced = [
        *sorted((work / "results" / "models").rglob("*.pt")),
        *sorted((work / "results" / "tables").glob("*")),
        *sorted((work / "results" / "metrics").rglob("*.json")),
    ]
    before = {path: path.read_bytes() for path in produced}
    done = snakemake(work, "--cores", "1", "--forcerun", "compute_logits", check=False)
    assert done.returncode != 0
    logs = "".join(p.read_text() for p in (work / "logs" / "compute_logits").rglob("*.log"))
    assert f"{image_id}" in logs and "not a readable image" in logs
    assert "Error in rule compute_logits" in done.stderr + done.stdout
    assert {path: path.read_bytes() for path in produced if path.exists()} == before
