"""A REFER ``refs(<splitBy>).p`` is read by an unpickler that refuses every global: a
crafted file cannot run code through ``load_refer``, ``evaluate`` or ``train``."""

from __future__ import annotations

import io
import os
import pickle

import pytest

from lgformer.cli import main
from lgformer.data.refer import load_refer
from lgformer.errors import LGFormerError


class _Touch:
    """Unpickling this object calls ``os.system`` (creating ``marker``)."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _plant(refcoco, payload: object, protocol: int = 2) -> None:
    """Rewrite the fixture's refs file with ``payload`` inside its first ref."""
    refs = [dict(r) for r in refcoco.refs]
    refs[0]["extra"] = payload
    with open(refcoco.root / "refcoco" / "refs(unc).p", "wb") as f:
        pickle.dump(refs, f, protocol=protocol)


def test_a_refs_file_that_would_run_code_is_refused(refcoco, tmp_path):
    marker = tmp_path / "ran"
    _plant(refcoco, _Touch(marker))
    with pytest.raises(LGFormerError) as err:
        load_refer(refcoco.root, "refcoco", "unc", "val")
    assert not marker.exists()
    message = str(err.value)
    assert "holds code or objects other than dicts, lists, strings and numbers" in message
    assert "(posix.system)" in message and "\n" not in message


def test_evaluate_refuses_it_in_one_line_before_running_anything(
    refcoco, tiny_checkpoint, tmp_path, capsys
):
    marker = tmp_path / "ran"
    _plant(refcoco, _Touch(marker))
    code = main(
        ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data-root", str(refcoco.root),
         "--split", "val", "--image-size", "64", "--num-workers", "0", "--device", "cpu",
         "--no-progress"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not marker.exists()
    assert len(err) == 1 and err[0].startswith("error: refs file ") and "not loaded" in err[0]


@pytest.mark.parametrize("protocol", [2, 4])
def test_plain_refs_still_load(refcoco, protocol):
    """Tuples, floats, big ints, None and nested dicts need no global."""
    _plant(refcoco, {"tokens": ("a", "b"), "score": 0.5, "big": 2**70, "none": None}, protocol)
    split = load_refer(refcoco.root, "refcoco", "unc", "train")
    assert split.num_sentences == 5


def test_python_2_byte_strings_need_no_global():
    """Python 2 writes its ``str`` as SHORT_BINSTRING (``U``); read as text, like pickle."""
    from lgformer.data.plain_pickle import load_plain_pickle

    python2 = b"\x80\x02]q\x00(U\x03catq\x01U\x02\xc3\xa9q\x02e."
    assert load_plain_pickle(io.BytesIO(python2), encoding="utf-8") == ["cat", "\xe9"]
    assert pickle.loads(python2, encoding="utf-8") == ["cat", "\xe9"]
