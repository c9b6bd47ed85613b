"""benchmarks/gpu.sh and bench_gpu.py: the CPU dry run prints every figure the GPU run does.

The dry run compiles with the ``eager`` backend: dynamo captures the same graphs as on
the GPU (where a model change would break ``torch.compile``), without inductor's C++
build, which takes minutes on a CPU. One compile dtype keeps it under a minute.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys

import pytest

from tests.benchmark_scripts import BENCHMARKS, load_benchmark_script

FIGURE = r"\s+[\d.]+ ms \(median of 1, min [\d.]+\)\s+[\d.]+ images/s"
DRY_RUN = ["--device", "cpu", "--tiny", "--compile-backend", "eager", "--compile-dtypes", "bf16"]


def run_script(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        load_benchmark_script("bench_gpu").main(argv)
    return out.getvalue()


@pytest.fixture(scope="module")
def dry_run() -> str:
    return run_script(DRY_RUN)


def test_inference_figures_for_every_dtype_batch_and_compile_scope(dry_run: str) -> None:
    out = dry_run
    assert "error:" not in out and "skipped" not in out, out
    for dtype in ("fp32", "tf32", "bf16", "fp16"):
        for batch in (1, 2):
            assert re.search(rf"inference eager\s+{dtype} batch\s+{batch}:{FIGURE}", out), out
    for mode in ("blocks", "compile"):
        for batch in (1, 2):
            assert re.search(rf"inference {mode}\s+bf16 batch\s+{batch}:{FIGURE}", out), out
    # Swin blocks (1 + 2 + 1 + 1), BERT layers (1: no list), 2 + 2 pixel-decoder layers,
    # 2 mask-decoder layers of test_tiny.
    compiles = r"first calls \(the compiles\) [\d.]+s"
    assert re.search(rf"compile \(blocks\) bf16: 11 layers, {compiles}", out), out
    assert re.search(rf"compile \(model\) bf16: the whole model, {compiles}", out), out
    assert re.search(r"^total \d+s$", out, re.M), out


def test_training_figures_with_and_without_checkpointing(dry_run: str) -> None:
    for dtype in (r"fp16 \+ GradScaler", "bf16"):
        for ckpt in ("off", "on "):
            line = rf"train step {dtype}, batch 2, checkpointing {ckpt}:{FIGURE}"
            assert re.search(line, dry_run), dry_run


def test_deformable_attention_eager_vs_compiled(dry_run: str) -> None:
    for kind in ("fp32 forward", "bf16 forward", "fp32 forward+backward"):
        for impl in ("pure PyTorch", "torch.compile"):
            line = rf"deformable attention {re.escape(kind)}\s+{impl}\s*:{FIGURE}"
            assert re.search(line, dry_run), dry_run
        diff = re.search(rf"{re.escape(kind)}: max \|eager - compiled\| = (\S+)", dry_run)
        assert diff and float(diff.group(1)) < 1e-2, dry_run


def test_a_spent_budget_skips_every_measurement() -> None:
    out = run_script(["--device", "cpu", "--tiny", "--budget-s", "0"])
    figures = [
        line
        for line in out.splitlines()
        if re.match(r"(inference|train step|deformable attention \S+ forward\S* +[pt])", line)
        or "inference compile (" in line
    ]
    # 8 eager, 4 training, 6 deformable, 2 scopes x 3 dtypes compiled.
    assert len(figures) == 8 + 4 + 6 + 6, out
    assert all("skipped" in line for line in figures), out


def test_gpu_sh_runs_the_checkout_it_is_in(tmp_path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": ""}
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu.sh"), "--device", "cpu", "--tiny", "--sections", "eager"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(rf"inference eager\s+fp16 batch\s+2:{FIGURE}", result.stdout), result.stdout
