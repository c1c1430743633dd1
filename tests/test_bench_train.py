"""``benchmarks/bench_train.py`` runs on the CPU at a tiny size and prints every number."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_train.py"
RATE = r"([\d.]+) ms/step, ([\d.]+) img/s"


def test_training_benchmark_reports_rates_speed_up_and_schedule() -> None:
    args = ["--device", "cpu", "--size", "32", "--batch", "2", "--steps", "1", "--warmup", "1"]
    args += ["--classes", "4", "--workers", "0", "--precision", "fp32", "--repeats", "1"]
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("vgg16-mnpo training, batch 2 x 32^2, 4 classes, cpu")
    assert re.fullmatch(rf"plain \(fp32, NCHW, SGD\), device tensors: {RATE}", lines[1])
    optimised = r"optimised \(fp32, channels_last, fused SGD\), device tensors: "
    assert re.fullmatch(optimised + RATE, lines[2])
    assert re.fullmatch(r"speed-up optimised / plain: [\d.]+x", lines[3])
    loader = rf"optimised \+ DataLoader \(0 workers, 71x54 JPEG decode \+ augmentation\): {RATE}"
    assert re.fullmatch(loader + r" = \d+% of the device-tensor rate", lines[4])
    assert lines[5] == "ILSVRC schedule, 10 epochs x 1,281,167 images (training only):"
    hours = r"plain [\d.]+ h, optimised [\d.]+ h, optimised \+ DataLoader [\d.]+ h"
    assert re.fullmatch(rf"  1 x cpu: {hours}", lines[6])
    assert re.fullmatch(rf"  8 x cpu, linear scaling assumed: {hours}", lines[7])
    assert len(lines) == 8
