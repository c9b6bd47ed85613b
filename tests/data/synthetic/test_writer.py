"""The written dataset: REFER format, determinism, splits, held-out pairs, polygons, CLI, loader."""

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lgformer.cli import main
from lgformer.data.masks import segmentation_to_mask
from lgformer.data.synthetic import write_dataset
from lgformer.data.synthetic.attributes import HELD_OUT_COMBOS
from lgformer.data.synthetic.build import build_image
from lgformer.data.synthetic.expressions import resolve
from lgformer.data.synthetic.phrasing import parse
from lgformer.data.synthetic.writer import SPLITS, TESTB_HELD_OUT, assign_splits
from lgformer.errors import LGFormerError

N, SEED, SIZE = 40, 3, 128


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    stats = write_dataset(root, N, SEED, image_size=SIZE)
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    instances = json.loads((root / "synthetic" / "instances.json").read_text())
    return root, stats, refs, instances


def _digest(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_refer_structure(dataset):
    root, stats, refs, instances = dataset
    assert set(instances) >= {"images", "annotations", "categories"}
    images = {im["id"]: im for im in instances["images"]}
    anns = {a["id"]: a for a in instances["annotations"]}
    cats = {c["id"] for c in instances["categories"]}
    assert len(images) == N and stats["refs"] == len(refs)
    for im in images.values():
        assert (root / "images" / "synthetic" / im["file_name"]).is_file()
        assert (im["height"], im["width"]) == (SIZE, SIZE)
    for a in anns.values():
        assert a["iscrowd"] == 0 and a["category_id"] in cats and a["image_id"] in images
        assert a["segmentation"] and all(len(p) >= 6 and len(p) % 2 == 0 for p in a["segmentation"])
        assert a["area"] > 0 and len(a["bbox"]) == 4
    sent_ids = set()
    for ref in refs:
        assert set(ref) >= {"ref_id", "ann_id", "image_id", "category_id", "split", "file_name",
                            "sent_ids", "sentences"}  # fmt: skip
        ann = anns[ref["ann_id"]]
        assert ann["image_id"] == ref["image_id"] and ann["category_id"] == ref["category_id"]
        assert ref["file_name"] == images[ref["image_id"]]["file_name"]
        assert ref["split"] in SPLITS
        assert ref["sent_ids"] == [s["sent_id"] for s in ref["sentences"]]
        for sent in ref["sentences"]:
            assert sent["tokens"] and sent["tokens"] == sent["sent"].split()
            assert sent["raw"] == sent["sent"] and sent["sent_id"] not in sent_ids
            sent_ids.add(sent["sent_id"])
    assert {r["split"] for r in refs} == set(SPLITS)
    assert len({r["ref_id"] for r in refs}) == len(refs)


def test_polygons_decode_to_the_rendered_masks(dataset):
    root, _, refs, instances = dataset
    by_image: dict[int, list[dict]] = {}
    for a in instances["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    splits = assign_splits(N, SEED)
    for index in range(0, N, 7):  # regenerate a few images and compare masks
        held = TESTB_HELD_OUT if splits[index] == "testB" else 0
        image = build_image(np.random.default_rng([SEED, index]), SIZE, num_held_out=held)
        anns = by_image[index + 1]
        assert len(anns) == len(image.scene.objects)
        for obj, ann in zip(image.scene.objects, anns):
            decoded = segmentation_to_mask(ann["segmentation"], SIZE, SIZE)
            iou = (decoded & obj.mask).sum() / (decoded | obj.mask).sum()
            assert iou > 0.95
            assert np.array_equal(decoded, obj.mask)  # in fact exact, occluded or not
            assert ann["area"] == obj.mask.sum()
        path = root / "images" / "synthetic" / f"synthetic_{index + 1:06d}.jpg"
        stored = np.asarray(Image.open(path))
        assert np.abs(stored.astype(int) - image.rgb).mean() < 3  # JPEG q95


def test_every_sentence_refers_to_exactly_its_object(dataset):
    _, _, refs, instances = dataset
    by_image: dict[int, list[dict]] = {}
    for a in instances["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    kinds = set()
    for ref in refs:
        anns = by_image[ref["image_id"]]
        objs = [_Obj(a["attributes"]) for a in anns]
        target = [a["id"] for a in anns].index(ref["ann_id"])
        for sent in ref["sentences"]:
            assert resolve(parse(sent["sent"]), objs, SIZE) == [target], sent["sent"]
            kinds.add(sent["kind"])
    assert kinds == {"attribute", "ordinal", "superlative", "relation"}


class _Obj:
    """An object as the sentences see it, read back from an annotation's attributes."""

    def __init__(self, attrs: dict) -> None:
        self.shape, self.colour, self.size = attrs["shape"], attrs["colour"], attrs["size"]
        self.cx, self.cy = attrs["centre"]
        self.area = attrs["shape_area"]


def test_held_out_pairs_only_in_testB(dataset):
    _, _, refs, instances = dataset
    anns = {a["id"]: a for a in instances["annotations"]}
    split_of_image = {r["image_id"]: r["split"] for r in refs}
    for a in instances["annotations"]:
        pair = (a["attributes"]["colour"], a["attributes"]["shape"])
        if pair in HELD_OUT_COMBOS:
            assert split_of_image[a["image_id"]] == "testB"
    for ref in refs:
        attrs = anns[ref["ann_id"]]["attributes"]
        held = (attrs["colour"], attrs["shape"]) in HELD_OUT_COMBOS
        assert held == (ref["split"] == "testB")


def test_deterministic_and_cli(dataset, tmp_path):
    root = dataset[0]
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = str(tmp_path / "a")
    cmd = [sys.executable, "-m", "lgformer.cli", "synth", "--out", out, "--images", str(N),
           "--seed", str(SEED), "--image-size", str(SIZE), "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert "testB" in done.stdout
    assert _digest(tmp_path / "a") == _digest(root)
    assert main(["synth", "--out", str(tmp_path / "b"), "--images", "4", "--seed", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert _digest(tmp_path / "b") != _digest(root)


def test_bad_arguments(tmp_path):
    with pytest.raises(LGFormerError):
        write_dataset(tmp_path, 3, 0)
    assert main(["synth", "--out", str(tmp_path), "--images", "2"]) == 2


def test_loads_through_the_refer_loader(dataset):
    from lgformer.data.refer import load_refer
    from lgformer.data.refer_layout import IMAGE_DIRS
    from lgformer.data.synthetic.writer import DATASET, IMAGE_DIR, SPLIT_BY

    assert IMAGE_DIRS[DATASET] == IMAGE_DIR
    root, stats, _, _ = dataset
    for split in SPLITS:
        data = load_refer(root, DATASET, SPLIT_BY, split)
        assert len(data.refs) == stats["splits"][split]["refs"]
        assert data.num_sentences == stats["splits"][split]["sentences"]
        assert (data.attention_mask.sum(1) < data.attention_mask.shape[1]).all()  # no truncation
        assert data.mask(0).any()


@pytest.mark.parametrize("count", ["0", "-2"])
def test_sentences_per_ref_below_one_is_refused(tmp_path, capsys, count):
    # Without the check no scene gets a referred object and the generator ends in a
    # RuntimeError about scenes after 50 tries.
    args = ["synth", "--out", str(tmp_path), "--images", "4", "--sentences-per-ref", count]
    assert main([*args, "--quiet"]) == 2
    assert f"sentences per ref must be at least 1, got {count}" in capsys.readouterr().err


def test_output_that_is_a_file_is_one_line(tmp_path, capsys):
    occupied = tmp_path / "data"
    occupied.write_text("not a directory")
    assert main(["synth", "--out", str(occupied), "--images", "4", "--quiet"]) == 2
    assert f"cannot create the directory {occupied / 'synthetic'}" in capsys.readouterr().err
