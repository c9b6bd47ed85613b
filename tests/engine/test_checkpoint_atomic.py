import pytest
import torch

import lgformer.engine.checkpoint as ckpt_mod
from lgformer.engine.checkpoint import (
    atomic_copy,
    atomic_save,
    find_resume_checkpoint,
    load_checkpoint,
)
from lgformer.errors import LGFormerError


def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"model": {"w": torch.ones(3)}, "step": 1}, path)
    before = path.read_bytes()

    def crashing_save(obj, handle):
        handle.write(b"half a checkpoint")  # bytes reach the disk, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_mod.torch, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"model": {"w": torch.zeros(3)}, "step": 2}, path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary left


def test_rename_publishes_the_new_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"model": {"w": torch.ones(1)}, "step": 1}, path)
    seen = []
    real_replace = ckpt_mod.os.replace

    def spy(src, dst):
        seen.append(torch.load(dst, weights_only=True)["step"])  # target still the old one
        real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", spy)
    atomic_save({"model": {"w": torch.ones(1)}, "step": 2}, path)
    monkeypatch.undo()
    assert seen == [1] and load_checkpoint(path)["step"] == 2
    atomic_copy(path, tmp_path / "best.pt")
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 2


def test_load_errors_and_resume_lookup(tmp_path):
    assert find_resume_checkpoint(tmp_path) is None
    with pytest.raises(LGFormerError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "last.pt").write_bytes(b"garbage")
    assert find_resume_checkpoint(tmp_path) == tmp_path / "last.pt"
    with pytest.raises(LGFormerError, match="cannot read"):
        load_checkpoint(tmp_path / "last.pt")


def test_a_resume_file_cut_short_or_of_another_kind_is_one_clear_line(tmp_path):
    torch.save({"model": {"w": torch.zeros(4096)}, "step": 3}, tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(LGFormerError) as err:
        load_checkpoint(tmp_path / "cut.pt")
    assert str(err.value).endswith("the file is truncated or corrupt; download or copy it again")
    (tmp_path / "notes.pt").write_text("step: 3\n" * 20)
    with pytest.raises(LGFormerError) as err:
        load_checkpoint(tmp_path / "notes.pt")
    assert "is not a PyTorch checkpoint" in str(err.value) and "\n" not in str(err.value)
