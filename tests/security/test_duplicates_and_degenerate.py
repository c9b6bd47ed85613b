"""Entries that would silently skew a result: a sent_id given to two sentences (two
samples, two per-sample rows under one id) is refused; polygon parts without area are
skipped with one warning that counts them."""

from __future__ import annotations

import json
import pickle

import pytest

from lgformer.cli import main
from lgformer.data.refer import load_refer
from lgformer.errors import LGFormerError


def _rewrite_refs(refcoco, edit) -> None:
    refs = [dict(r, sentences=[dict(s) for s in r["sentences"]]) for r in refcoco.refs]
    edit(refs)
    with open(refcoco.root / "refcoco" / "refs(unc).p", "wb") as f:
        pickle.dump(refs, f, protocol=2)


def _repeat_sent_ids(refs) -> None:
    """Refs 3 and 4 (val) reuse the sent_ids of ref 1 (train) and of each other."""
    refs[2]["sentences"][0]["sent_id"] = 100
    refs[2]["sentences"][1]["sent_id"] = 107
    refs[3]["sentences"][0]["sent_id"] = 107


def test_repeated_sent_ids_are_refused_naming_them(refcoco):
    _rewrite_refs(refcoco, _repeat_sent_ids)
    load_refer(refcoco.root, "refcoco", "unc", "train")  # no repeats within train
    with pytest.raises(LGFormerError, match=r"gives 1 sent_ids to more than one sentence \(107\)"):
        load_refer(refcoco.root, "refcoco", "unc", "val")


def test_evaluate_refuses_repeated_sent_ids_in_one_line(refcoco, tiny_checkpoint, tmp_path, capsys):
    _rewrite_refs(refcoco, _repeat_sent_ids)
    code = main(
        ["evaluate", "--checkpoint", str(tiny_checkpoint), "--data-root", str(refcoco.root),
         "--split", "val", "--image-size", "64", "--num-workers", "0", "--device", "cpu",
         "--no-progress", "--per-sample", str(tmp_path / "samples.csv")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not (tmp_path / "samples.csv").exists()
    assert len(err) == 1 and "sent_ids to more than one sentence (107)" in err[0], err


def test_polygon_parts_without_area_are_counted_in_one_warning(refcoco):
    path = refcoco.root / "refcoco" / "instances.json"
    data = json.loads(path.read_text())
    for ann in data["annotations"]:
        if ann["id"] == 12:  # refs 2 (train), 6, 9
            ann["segmentation"] += [[1, 1, 3, 3], [5, 5, 6, 6, 7]]  # 2 and 2.5 points
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning) as caught:
        split = load_refer(refcoco.root, "refcoco", "unc", "train")
    messages = [str(w.message) for w in caught if "polygon" in str(w.message)]
    assert len(messages) == 1, messages
    assert messages[0].startswith("2 polygon parts with fewer than 3 points (no area)")
    assert messages[0].endswith("are skipped: annotations 12")
    assert split.mask(1).sum() > 0  # the real parts still make the mask
