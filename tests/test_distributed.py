"""Leaving the process group: a barrier after a normal end, none after an error.

Rank 0 still writes files after the other processes are done; tearing the group
down without meeting them first can abort it once its work is finished. After
an error the peers may never arrive, so waiting for them would hang.
"""

import pytest
import torch.distributed as dist

from lgformer.distributed import ProcessInfo, leave_process_group, shutdown_distributed
from lgformer.engine import run as run_module
from tests.engine.tiny_data import squares_factory, tiny_config


@pytest.fixture
def group_calls(monkeypatch) -> list[str]:
    """Pretend a process group exists; record barrier and destroy calls in order."""
    calls: list[str] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda *a, **k: calls.append("destroy"))
    return calls


def test_training_teardown_waits_for_peers_only_when_asked(group_calls):
    leave_process_group(wait_for_peers=True)
    assert group_calls == ["barrier", "destroy"]
    group_calls.clear()
    leave_process_group(wait_for_peers=False)
    assert group_calls == ["destroy"]


def test_evaluation_teardown_waits_for_peers_only_when_asked(group_calls):
    shutdown_distributed(ProcessInfo(0, 2, 0, owns_group=True), wait_for_peers=True)
    assert group_calls == ["barrier", "destroy"]
    group_calls.clear()
    shutdown_distributed(ProcessInfo(0, 2, 0, owns_group=True))
    assert group_calls == ["destroy"]
    group_calls.clear()
    # A group the caller created is the caller's to destroy.
    shutdown_distributed(ProcessInfo(0, 2, 0, owns_group=False), wait_for_peers=True)
    assert group_calls == []


def test_a_real_one_process_group_is_left_cleanly(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    leave_process_group(wait_for_peers=True)
    assert not dist.is_initialized()


@pytest.mark.parametrize("fails", [False, True])
def test_run_training_waits_for_peers_only_after_a_normal_end(tmp_path, monkeypatch, fails):
    seen: list[bool] = []
    monkeypatch.setattr(
        run_module, "leave_process_group", lambda *, wait_for_peers: seen.append(wait_for_peers)
    )
    cfg = tiny_config(tmp_path, "optim.epochs=1", "validate=false")
    factory = squares_factory(n_train=4, size=32)

    def failing_factory(cfg, max_words):
        raise RuntimeError("dataset went away")

    if fails:
        with pytest.raises(RuntimeError, match="dataset went away"):
            run_module.run_training(cfg, datasets=failing_factory)
    else:
        run_module.run_training(cfg, datasets=factory)
    assert seen == [not fails]
