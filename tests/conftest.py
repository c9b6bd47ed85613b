"""Shared fixtures: the tiny model and a checkpoint of it, the tiny REFER dataset, paths to
../shared, the segmenters ``serve`` builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lgformer.config import build_config
from lgformer.errors import LGFormerError
from lgformer.inference import ReferringSegmenter
from lgformer.model import build_lgformer
from tests.refer_fixtures import ReferFixture, build_refer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PARITY_DIR = SHARED / "parity"

# One thread: on a busy 2-core machine two threads per process oversubscribe badly.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_parity_dir() -> Path:
    if not PARITY_DIR.is_dir():
        pytest.fail(f"../shared/parity not found at {PARITY_DIR}: clone with shared/ beside it")
    return PARITY_DIR


def make_tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_lgformer(build_config("test_tiny")).eval()


@pytest.fixture()
def tiny_model() -> torch.nn.Module:
    return make_tiny_model()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random-weight test_tiny model saved as .safetensors with its config."""
    from lgformer.checkpoints import save_model

    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_model(make_tiny_model(), path)


@pytest.fixture
def refcoco(tmp_path) -> ReferFixture:
    """The tiny REFER fixture (refcoco/unc) under ``tmp_path``."""
    return build_refer(tmp_path)


class _ServeStopped(LGFormerError):
    """Ends ``serve`` once its segmenter is built."""


@pytest.fixture()
def segmenters_built_by_serve(monkeypatch) -> list[ReferringSegmenter]:
    """The segmenters ``ReferringSegmenter.from_checkpoint`` builds from now on; each build
    then raises an ``LGFormerError``, so ``serve`` exits with 2 before it opens a port."""
    built: list[ReferringSegmenter] = []
    real = ReferringSegmenter.from_checkpoint.__func__

    def record(cls, *args, **kwargs):
        built.append(real(cls, *args, **kwargs))
        raise _ServeStopped("stop here")

    monkeypatch.setattr(ReferringSegmenter, "from_checkpoint", classmethod(record))
    return built
