import json
import pickle
import warnings

import numpy as np
import pytest

from lgformer.data.refer import load_refer
from lgformer.data.refer_layout import in_split
from lgformer.errors import LGFormerError
from lgformer.tokenizer import SentenceTokenizer
from tests.refer_fixtures import IMAGES, REFS, build_refer


def _load(fx, split, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the long fixture sentence warns about truncation
        return load_refer(fx.root, fx.dataset, fx.split_by, split, **kw)


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        ("train", [1, 2]),
        ("val", [3, 4]),
        ("testA", [5, 7]),  # testAB counts for testA ...
        ("testB", [6, 7]),  # ... and for testB
        ("test", [5, 6, 7, 8, 9]),  # every split containing "test"
    ],
)
def test_split_selection(refcoco, split, expected):
    assert [r.ref_id for r in _load(refcoco, split).refs] == expected


def test_in_split_rules():
    assert in_split("testA", "testA") and in_split("testAB", "testB")
    assert not in_split("testB", "testA") and not in_split("train", "testA")
    assert in_split("testC", "test") and not in_split("val", "test")
    assert in_split("train", "train") and not in_split("trainval", "train")


def test_refclef_uses_its_image_dir_and_testC(tmp_path):
    fx = build_refer(tmp_path, "refclef", "unc")
    assert (tmp_path / "images" / "saiapr_tc-12" / "img_000001.png").is_file()
    split = _load(fx, "testC")
    assert [r.ref_id for r in split.refs] == [9]
    assert "saiapr_tc-12" in split.refs[0].image_path


def test_refcocog_umd(tmp_path):
    fx = build_refer(tmp_path, "refcocog", "umd")
    assert [r.ref_id for r in _load(fx, "val").refs] == [3, 4]
    with pytest.raises(LGFormerError, match="unknown split 'testA'"):
        _load(fx, "testA")


def test_sentences_and_ids(refcoco):
    split = _load(refcoco, "train")
    assert split.sentences == REFS[0][3] + REFS[1][3]
    assert split.sent_ids.tolist() == [100, 101, 102, 103, 104]
    assert split.sent_ref.tolist() == [0, 0, 1, 1, 1]
    assert [(r.first_sentence, r.num_sentences) for r in split.refs] == [(0, 2), (2, 3)]
    assert split.refs[0].ann_id == 11 and split.refs[0].image_id == 1
    assert (split.refs[0].height, split.refs[0].width) == IMAGES[1]
    assert split.token_ids.shape == (5, 20) and split.attention_mask.shape == (5, 20)


def test_token_ids_match_the_tokenizer(refcoco):
    tok = SentenceTokenizer()
    split = _load(refcoco, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids, mask = tok(split.sentences)
    np.testing.assert_array_equal(split.token_ids, ids.numpy())
    np.testing.assert_array_equal(split.attention_mask, mask.numpy())
    long_row = split.sentences.index(REFS[7][3][0])
    assert split.attention_mask[long_row].all()  # truncated to 20 ids, no [SEP]
    assert split.token_ids[long_row, 0] == 101


def test_truncation_warns_once(refcoco):
    with pytest.warns(UserWarning, match="1 distinct sentences were longer than 20"):
        load_refer(refcoco.root, "refcoco", "unc", "test")


def test_masks_are_the_union_of_parts(refcoco):
    split = _load(refcoco, "test")
    for i, ref in enumerate(split.refs):
        np.testing.assert_array_equal(split.mask(i), refcoco.masks[ref.ann_id])
    train = _load(refcoco, "train")
    multi = train.mask(1)  # ann 12: two overlapping rectangles
    assert multi[10:15, 25:30].all()


def test_empty_sentence_becomes_cls_sep(refcoco):
    path = refcoco.root / "refcoco" / "refs(unc).p"
    refs = pickle.loads(path.read_bytes())
    refs[0]["sentences"][0]["raw"] = "   "
    path.write_bytes(pickle.dumps(refs))
    with pytest.warns(UserWarning, match="1 empty sentences"):
        split = load_refer(refcoco.root, "refcoco", "unc", "train")
    assert split.token_ids[0, :3].tolist() == [101, 102, 0]
    assert split.attention_mask[0, :3].tolist() == [1, 1, 0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("refcocoX", "unc", "val"), "unknown dataset 'refcocoX'"),
        (("refcoco", "umd", "val"), "unknown splitBy 'umd' for refcoco"),
        (("refcoco", "unc", "testC"), "unknown split 'testC'"),
        (("refcoco+", "google", "val"), "unknown splitBy 'google'"),
    ],
)
def test_unknown_combinations(refcoco, args, match):
    with pytest.raises(LGFormerError, match=match):
        load_refer(refcoco.root, *args)


def test_wrong_root_and_missing_files(refcoco, tmp_path):
    with pytest.raises(LGFormerError, match="data root not found"):
        load_refer(tmp_path / "nope", "refcoco", "unc", "val")
    with pytest.raises(LGFormerError, match="no refcoco\\+/ directory"):
        load_refer(refcoco.root, "refcoco+", "unc", "val")
    with pytest.raises(LGFormerError, match=r"refs file not found: .*refs\(google\)\.p"):
        load_refer(refcoco.root, "refcoco", "google", "val")
    (refcoco.root / "refcoco" / "instances.json").unlink()
    with pytest.raises(LGFormerError, match="instances file not found: .*instances.json"):
        load_refer(refcoco.root, "refcoco", "unc", "val")


def test_corrupt_files(refcoco):
    (refcoco.root / "refcoco" / "instances.json").write_text("{not json")
    with pytest.raises(LGFormerError, match="cannot read instances file"):
        _load(refcoco, "val")
    (refcoco.root / "refcoco" / "refs(unc).p").write_bytes(b"garbage")
    with pytest.raises(LGFormerError, match="cannot read refs file"):
        _load(refcoco, "val")


def test_missing_image_names_the_path(refcoco):
    image = refcoco.root / "images" / "mscoco" / "images" / "train2014" / "img_000002.png"
    image.unlink()
    with pytest.raises(LGFormerError, match=f"image not found: {image}"):
        _load(refcoco, "val")
    _load(refcoco, "val", check_images=False)  # deferred to access time
    assert [r.ref_id for r in _load(refcoco, "train").refs] == [1, 2]  # other split unaffected


def test_ref_whose_annotation_is_missing(refcoco):
    path = refcoco.root / "refcoco" / "instances.json"
    data = json.loads(path.read_text())
    data["annotations"] = [a for a in data["annotations"] if a["id"] != 31]
    path.write_text(json.dumps(data))
    with pytest.raises(LGFormerError, match="ref 4: annotation 31 is not in instances.json"):
        _load(refcoco, "val")


def test_split_without_refs(refcoco):
    path = refcoco.root / "refcoco" / "refs(unc).p"
    refs = [r for r in pickle.loads(path.read_bytes()) if r["split"] != "val"]
    path.write_bytes(pickle.dumps(refs))
    with pytest.raises(LGFormerError, match="split 'val' of refcoco\\(unc\\) has no refs"):
        _load(refcoco, "val")


def _edit_refs(fx, edit) -> None:
    path = fx.root / fx.dataset / f"refs({fx.split_by}).p"
    refs = pickle.loads(path.read_bytes())
    for ref in refs:
        edit(ref)
    path.write_bytes(pickle.dumps(refs))


def _edit_instances(fx, edit) -> None:
    path = fx.root / fx.dataset / "instances.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "blob",
    [
        b"\x80\x09",  # a pickle protocol this Python does not know (ValueError)
        b"\x80\x02X\x02\x00\x00\x00\xff\xfe.",  # a string that is not UTF-8 (UnicodeDecodeError)
        b"\x80\x02}}K\x01s.",  # a dict as a dict key (TypeError)
    ],
)
def test_any_corrupt_refs_pickle_is_one_line_naming_the_file(refcoco, blob):
    path = refcoco.root / "refcoco" / "refs(unc).p"
    path.write_bytes(blob)
    with pytest.raises(LGFormerError, match=r"cannot read refs file .*refs\(unc\)\.p"):
        _load(refcoco, "val")


@pytest.mark.parametrize("field", ["ref_id", "ann_id", "image_id"])
def test_ref_without_an_id_blames_the_refs_file(refcoco, field):
    _edit_refs(refcoco, lambda ref: ref.pop(field))
    with pytest.raises(LGFormerError, match=rf"malformed ref .*refs\(unc\)\.p: no '{field}' field"):
        _load(refcoco, "val")


def test_ref_whose_sentences_are_not_records(refcoco):
    def edit(ref):
        ref["sentences"] = [s["raw"] for s in ref["sentences"]]

    _edit_refs(refcoco, edit)
    with pytest.raises(LGFormerError, match=r"malformed ref 3 in .*refs\(unc\)\.p"):
        _load(refcoco, "val")


@pytest.mark.parametrize(
    ("entries", "field"),
    [("images", "file_name"), ("images", "height"), ("annotations", "segmentation")],
)
def test_incomplete_instances_entry_names_the_file_and_field(refcoco, entries, field):
    def edit(data):
        for entry in data[entries]:
            entry.pop(field)

    _edit_instances(refcoco, edit)
    with pytest.raises(LGFormerError, match=rf"instances\.json is malformed: no '{field}' field"):
        _load(refcoco, "val")


@pytest.mark.parametrize(
    ("ann_id", "segmentation", "expected"),
    [
        (21, [0, 0, 5, 0, 5, 5], r"annotation 21 \(ref 3\) in .*instances\.json: a polygon is"),
        (31, {"size": [30, 40], "counts": "PP"}, r"annotation 31 \(ref 4\) .*RLE size \[30, 40\]"),
    ],
)
def test_unusable_segmentation_names_its_annotation(refcoco, ann_id, segmentation, expected):
    """Found when the split loads (every segmentation is checked then), not mid-run."""

    def edit(data):
        for ann in data["annotations"]:
            if ann["id"] == ann_id:
                ann["segmentation"] = segmentation

    _edit_instances(refcoco, edit)
    with pytest.raises(LGFormerError, match=expected):
        _load(refcoco, "val")  # refs 3 (annotation 21) and 4 (annotation 31)


def test_python2_pickle_with_utf8_sentences_keeps_their_characters(refcoco):
    # What Python 2 writes for refs whose sentence is the byte string "the café man"
    # (UTF-8): protocol 2, SHORT_BINSTRING ("U") for every str.
    def py2_str(text: str) -> bytes:
        data = text.encode("utf-8")
        return b"U" + bytes([len(data)]) + data

    fields = {"ref_id": 3, "ann_id": 21, "image_id": 2, "split": "val"}
    ref = b"}("
    for key, value in fields.items():
        ref += py2_str(key) + (py2_str(value) if isinstance(value, str) else b"K" + bytes([value]))
    sentence = b"}(" + py2_str("sent_id") + b"Kd" + py2_str("raw") + py2_str("the café man") + b"u"
    ref += py2_str("sentences") + b"]" + sentence + b"a" + b"u"
    blob = b"\x80\x02]" + ref + b"a."
    (refcoco.root / "refcoco" / "refs(unc).p").write_bytes(blob)
    split = _load(refcoco, "val")
    assert split.sentences == ["the café man"]  # not the latin1 reading "the cafÃ© man"
