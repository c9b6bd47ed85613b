import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from lgformer.cli import main
from lgformer.config import build_config
from lgformer.evaluation import compute_metrics
from lgformer.model import build_lgformer

# One fixture sentence is long on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:1 distinct sentences:UserWarning")


def _args(refcoco, checkpoint, out_dir, *extra: str) -> list[str]:
    return [
        "evaluate", "--checkpoint", str(checkpoint), "--data-root", str(refcoco.root),
        "--dataset", "refcoco", "--split-by", "unc", "--split", "test",
        "--image-size", "64", "--num-workers", "0", "--device", "cpu", "--no-progress",
        "--output", str(out_dir / "results.json"), "--per-sample", str(out_dir / "samples.csv"),
        *extra,
    ]  # fmt: skip


def _read(out_dir) -> tuple[dict, list[dict]]:
    summary = json.loads((out_dir / "results.json").read_text())
    with open(out_dir / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return summary, rows


@pytest.mark.parametrize("resolution", ["input", "original"])
def test_evaluate_cli_end_to_end(refcoco, tiny_checkpoint, tmp_path, capsys, resolution):
    code = main(_args(refcoco, tiny_checkpoint, tmp_path, "--resolution", resolution))
    assert code == 0
    printed = capsys.readouterr().out
    assert "overall_iou" in printed and "precision@0.9" in printed and "7 samples" in printed
    summary, rows = _read(tmp_path)
    assert summary["dataset"] == "refcoco" and summary["split"] == "test"
    assert summary["split_by"] == "unc" and summary["resolution"] == resolution
    assert summary["checkpoint"] == str(tiny_checkpoint) and summary["num_samples"] == 7
    assert list(rows[0]) == ["ref_id", "sent_id", "intersection", "union", "iou"]
    assert [int(r["ref_id"]) for r in rows] == [5, 5, 6, 7, 7, 8, 9]
    assert [int(r["sent_id"]) for r in rows] == list(range(108, 115))
    inter = [int(r["intersection"]) for r in rows]
    union = [int(r["union"]) for r in rows]
    expected = compute_metrics(inter, union).as_dict()
    expected.pop("num_samples")
    assert summary["metrics"] == expected
    for r, i, u in zip(rows, inter, union, strict=True):
        assert float(r["iou"]) == pytest.approx(i / u if u else 0.0, abs=1e-6)
    if resolution == "original":
        assert max(union) <= 36 * 28  # at most the image, not 64 x 64
    else:
        assert union[0] <= 64 * 64


def test_evaluate_cli_with_a_training_style_pt_checkpoint(refcoco, tmp_path):
    torch.manual_seed(0)
    config = build_config("test_tiny")
    path = tmp_path / "train.pt"
    torch.save(
        {"model": build_lgformer(config).state_dict(), "model_config": config.to_dict()}, path
    )
    assert main(_args(refcoco, path, tmp_path)) == 0
    assert _read(tmp_path)[0]["num_samples"] == 7


def test_evaluate_cli_reports_bad_data_as_one_line(refcoco, tiny_checkpoint, tmp_path, capsys):
    args = _args(refcoco, tiny_checkpoint, tmp_path)
    args[args.index("--data-root") + 1] = str(tmp_path / "missing")
    assert main(args) == 2
    assert "error: data root not found" in capsys.readouterr().err
    args = _args(refcoco, tiny_checkpoint, tmp_path)
    args[args.index("--split") + 1] = "testC"
    assert main(args) == 2
    assert "unknown split 'testC'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_gloo_processes_match_one(refcoco, tiny_checkpoint, tmp_path):
    """torchrun with two CPU processes (gloo): same JSON and CSV as one process.

    Batch size 1 makes every forward pass identical in both runs, so even pixels
    whose logits sit at float32 rounding distance from 0 cannot differ.
    """
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir()
    double.mkdir()
    assert main(_args(refcoco, tiny_checkpoint, single, "--batch-size", "1")) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "lgformer.cli", *_args(refcoco, tiny_checkpoint, double, "--batch-size", "1"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary_single, rows_single = _read(single)
    summary_double, rows_double = _read(double)
    assert summary_double.pop("world_size") == 2 and summary_single.pop("world_size") == 1
    assert summary_single == summary_double
    assert rows_single == rows_double


def test_evaluate_cli_waits_for_peers_only_after_evaluating(
    refcoco, tiny_checkpoint, tmp_path, monkeypatch
):
    """Every process meets the others before leaving the group, unless it failed early."""
    import lgformer.evaluation

    seen: list[bool] = []
    monkeypatch.setattr(
        lgformer.evaluation,
        "shutdown_distributed",
        lambda process, *, wait_for_peers: seen.append(wait_for_peers),
    )
    assert main(_args(refcoco, tiny_checkpoint, tmp_path)) == 0
    args = _args(refcoco, tiny_checkpoint, tmp_path)
    args[args.index("--data-root") + 1] = str(tmp_path / "missing")
    assert main(args) == 2
    assert seen == [True, False]


@pytest.mark.parametrize("option", ["--output", "--per-sample"])
def test_unwritable_output_fails_before_evaluating(
    refcoco, tiny_checkpoint, tmp_path, capsys, monkeypatch, option
):
    import lgformer.evaluation

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluated although the results could not be written")

    monkeypatch.setattr(lgformer.evaluation, "evaluate", must_not_run)
    args = _args(refcoco, tiny_checkpoint, tmp_path)
    args[args.index(option) + 1] = str(tmp_path)  # a directory, e.g. "--output results/"
    assert main(args) == 2
    assert f"error: {option} {tmp_path} is a directory" in capsys.readouterr().err
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    args[args.index(option) + 1] = str(blocker / "out.file")
    assert main(args) == 2
    assert f"{blocker} is a file, not a directory" in capsys.readouterr().err


def test_output_directory_that_refuses_files_fails_before_evaluating(
    refcoco, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    """os.access says yes to root and on read-only mounts: a probe file decides."""
    import tempfile

    import lgformer.evaluation

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluated although the results could not be written")

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(lgformer.evaluation, "evaluate", must_not_run)
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    assert main(_args(refcoco, tiny_checkpoint, tmp_path)) == 2
    assert f"cannot write in {tmp_path}: Read-only file system" in capsys.readouterr().err


def test_results_that_cannot_be_written_are_saved_elsewhere(
    refcoco, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    """A write failing after the evaluation (disk full, path gone) loses no result."""
    import lgformer.evaluation.report as report

    rescue_dir = tmp_path / "rescue"
    rescue_dir.mkdir()
    monkeypatch.setenv("TMPDIR", str(rescue_dir))
    monkeypatch.setattr(report.tempfile, "tempdir", None)  # re-read TMPDIR
    real_write_json = report.write_json

    def disk_full_for_the_requested_path(path, data):
        if path == tmp_path / "results.json":
            raise OSError(28, "No space left on device")
        return real_write_json(path, data)

    monkeypatch.setattr(report, "write_json", disk_full_for_the_requested_path)

    assert main(_args(refcoco, tiny_checkpoint, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "No space left on device" in err
    (rescued,) = rescue_dir.glob("results-*.json")
    assert str(rescued) in err
    assert json.loads(rescued.read_text())["num_samples"] > 0
    # The other output, whose path was fine, was written all the same.
    assert (tmp_path / "samples.csv").read_text().startswith("ref_id,sent_id")
