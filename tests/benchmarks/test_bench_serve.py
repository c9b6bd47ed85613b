"""``benchmarks/bench_serve.py``: a short real run against this checkout's server."""

from __future__ import annotations

import re
import sys

import pytest

from tests.benchmark_scripts import load_benchmark_script


def test_a_short_run_prints_a_line_per_server(monkeypatch, capsys):
    bench = load_benchmark_script("bench_serve")
    src = str(bench.Path(bench.__file__).resolve().parents[1] / "src")
    argv = ["bench_serve.py", "--clients", "2", "--seconds", "1.5", "--warmup", "1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--server", f"new={src} --no-page"])
    bench.main()
    out = capsys.readouterr().out
    row = re.search(r"^\s+2 new\s+([\d.]+)\s+(\d+)\s+(\d+)\s+([\d.]+)", out, flags=re.M)
    assert row, out
    assert float(row.group(1)) > 0 and int(row.group(2)) > 0 and int(row.group(3)) == 0
    assert "RSS MB before->after" in out


def test_the_load_is_bounded():
    bench = load_benchmark_script("bench_serve")
    assert bench.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert bench.parse_server("a=src --batch-size 1") == ("a", "src", ["--batch-size", "1"])
    with pytest.raises(SystemExit):
        bench.parse_server("no-source")
