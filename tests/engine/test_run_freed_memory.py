"""retain_freed_memory: large freed tensors are reused instead of page-faulted anew."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from lgformer.engine import run as run_module
from lgformer.engine.run import retain_freed_memory

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc only",
)

# Page faults while filling a fresh 64 MiB tensor five times (16384 pages each), after
# ten rounds that let the heap settle (its first blocks are new memory either way).
FAULTS_SCRIPT = """
import resource, sys, torch
from lgformer.engine.run import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
for _ in range(10):
    torch.empty(16 * 2**20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.empty(16 * 2**20).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", FAULTS_SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_retained_memory_is_reused_without_page_faults() -> None:
    default, retained = page_faults("default"), page_faults("retain")
    assert default > 5 * 16384 // 2  # glibc maps and unmaps every 64 MiB block
    assert retained < 2000  # the freed block is reused


def test_reports_success_on_glibc() -> None:
    assert retain_freed_memory() is True


def test_training_on_cpu_retains_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(run_module, "retain_freed_memory", lambda: calls.append(1) or True)

    class Stop(Exception):
        pass

    def stop(*args: object, **kwargs: object) -> None:
        raise Stop

    monkeypatch.setattr(run_module, "init_distributed", stop)
    from lgformer.engine.config import load_train_config

    with pytest.raises(Stop):
        run_module.run_training(load_train_config(None, ["device=cpu"]))
    assert calls == [1]
