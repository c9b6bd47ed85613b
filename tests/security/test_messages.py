"""Files and folders that used to give a raw traceback or a misleading line: each is now one
line saying what happened and what to do (rc 2, as for every refused input)."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch
from PIL import Image

import lgformer.engine.checkpoint as checkpoint_module
from lgformer.checkpoints import load_model
from lgformer.cli import main
from lgformer.engine.checkpoint import load_checkpoint
from lgformer.errors import LGFormerError
from tests.conftest import make_tiny_model
from tests.security.train_fixture import tiny_train_config

CODE = "this file holds code or objects that are not tensors; it was not loaded"


class _Touch:
    """Unpickling this object calls ``os.system`` (creating ``marker``)."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_code_running_checkpoint_is_named_as_such_and_never_run(tmp_path, capsys, legacy):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pth"
    obj = {"model": make_tiny_model().state_dict(), "hook": _Touch(marker)}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    for load in (load_model, load_checkpoint):
        with pytest.raises(LGFormerError, match=CODE):
            load(path)
    image = tmp_path / "photo.png"
    Image.new("RGB", (40, 30)).save(image)
    argv = ["segment", "--checkpoint", str(path), "--image", str(image), "--text", "a",
            "--out", str(tmp_path / "out"), "--device", "cpu", "--image-size", "64"]  # fmt: skip
    assert main(argv) == 2
    assert CODE in _error(capsys)
    assert not marker.exists()


def test_a_pickled_pytorch_model_bin_as_init_bert(tmp_path, capsys):
    marker = tmp_path / "ran"
    bert = tmp_path / "bert"
    bert.mkdir()
    text = make_tiny_model().text_encoder
    (bert / "config.json").write_text(json.dumps(text.config.to_dict()))
    torch.save({**text.state_dict(), "hook": _Touch(marker)}, bert / "pytorch_model.bin")
    config = tiny_train_config(tmp_path, init={"bert": str(bert)})
    assert main(["train", "--config", str(config)]) == 2
    line = _error(capsys)
    assert f"cannot read checkpoint {bert / 'pytorch_model.bin'}: {CODE}" in line, line
    assert not marker.exists()


def test_disk_full_while_writing_a_checkpoint(tmp_path, capsys, monkeypatch):
    """The second run's first checkpoint write meets a full disk: one line, and the first
    run's last.pt is still there to resume from."""
    config = tiny_train_config(tmp_path)
    assert main(["train", "--config", str(config)]) == 0
    run = tmp_path / "run"
    before = (run / "last.pt").read_bytes()
    capsys.readouterr()
    real_open = open

    class FullDisk:
        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, data) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.handle.close()

    def full_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return FullDisk(handle) if "w" in mode and str(file).endswith(".tmp") else handle

    monkeypatch.setattr(checkpoint_module, "open", full_open, raising=False)
    assert main(["train", "--config", str(config), "--set", "optim.epochs=2"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "No space left on device; the previous one is untouched" in lines[0], lines
    assert "launch again to resume" in lines[0]
    assert (run / "last.pt").read_bytes() == before
    assert not list(run.glob(".*.tmp"))


def test_output_dir_that_is_a_file(tmp_path, capsys):
    taken = tmp_path / "results.txt"
    taken.write_text("not a directory")
    config = tiny_train_config(tmp_path, output={"dir": str(taken)})
    assert main(["train", "--config", str(config)]) == 2
    line = _error(capsys)
    assert f"output.dir {taken} is a file, not a directory" in line
    assert "--set output.dir=PATH" in line and taken.read_text() == "not a directory"


def test_output_dir_that_is_read_only(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse as a read-only one
        import tempfile

        real = tempfile.TemporaryFile

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and os.path.realpath(dir) == os.path.realpath(locked):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    try:
        config = tiny_train_config(tmp_path, output={"dir": str(locked)})
        assert main(["train", "--config", str(config)]) == 2
        line = _error(capsys)
    finally:
        locked.chmod(0o755)
    assert f"cannot write in output.dir {locked}: Permission denied" in line, line
