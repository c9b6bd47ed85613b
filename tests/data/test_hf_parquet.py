"""RefCOCO's Hugging Face parquet copies: a split read from parquet files in exactly their
schema equals the same split read from the REFER pickle (samples, masks, metrics)."""

import json
import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lgformer.cli import main
from lgformer.data import hf_parquet
from lgformer.data.refer import load_refer
from lgformer.data.refer_layout import image_dir
from lgformer.data.sources import detect_format, load_split
from lgformer.data.synthetic import write_dataset
from lgformer.errors import LGFormerError

SPLITS = ("train", "val", "testA", "testB")
# The hub's file names for REFER's splits (jxu124/refcoco: its "test" is testA).
HUB_NAMES = {"train": "train", "val": "validation", "testA": "test", "testB": "testB"}
SENTENCE = pa.struct(
    [("raw", pa.string()), ("sent", pa.string()), ("sent_id", pa.int64()),
     ("tokens", pa.list_(pa.string()))]
)  # fmt: skip
SCHEMA = pa.schema(
    [
        ("sent_ids", pa.list_(pa.int64())),
        ("file_name", pa.string()),
        ("ann_id", pa.int64()),
        ("ref_id", pa.int64()),
        ("image_id", pa.int64()),
        ("split", pa.string()),
        ("sentences", pa.list_(SENTENCE)),
        ("category_id", pa.int64()),
        ("raw_anns", pa.string()),
        ("raw_image_info", pa.string()),
        ("raw_sentences", pa.string()),
        ("image_path", pa.string()),
        ("bbox", pa.list_(pa.float64())),
        ("captions", pa.list_(pa.string())),
        ("global_image_id", pa.string()),
    ]
)


def write_hub_parquet(root, out, *, with_split_column=True):
    """The synthetic REFER data at ``root`` as the hub's parquet files, one per split."""
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    instances = json.loads((root / "synthetic" / "instances.json").read_text())
    images = {i["id"]: i for i in instances["images"]}
    anns = {a["id"]: a for a in instances["annotations"]}
    (out / "data").mkdir(parents=True)
    for split in SPLITS:
        rows = []
        for ref in (r for r in refs if r["split"] == split):
            image, ann = images[ref["image_id"]], anns[ref["ann_id"]]
            sentences = [
                {"raw": s["raw"], "sent": s["sent"], "sent_id": s["sent_id"],
                 "tokens": s.get("tokens", s["sent"].split())}
                for s in ref["sentences"]
            ]  # fmt: skip
            rows.append(
                {
                    "sent_ids": list(ref["sent_ids"]),
                    "file_name": ref["file_name"],
                    "ann_id": ref["ann_id"],
                    "ref_id": ref["ref_id"],
                    "image_id": ref["image_id"],
                    "split": ref["split"],
                    "sentences": sentences,
                    "category_id": ref["category_id"],
                    "raw_anns": json.dumps(ann),
                    "raw_image_info": json.dumps(image),
                    "raw_sentences": json.dumps(ref["sentences"]),
                    "image_path": f"synthetic/{image['file_name']}",
                    "bbox": [float(v) for v in ann["bbox"]],
                    "captions": [s["raw"] for s in ref["sentences"]],
                    "global_image_id": f"synthetic.{ref['image_id']}",
                }
            )
        table = pa.Table.from_pylist(rows[::-1], schema=SCHEMA)  # not in ref_id order
        if not with_split_column:
            table = table.drop_columns(["split"])
        pq.write_table(table, out / "data" / f"{HUB_NAMES[split]}-00000-of-00001.parquet")
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 24, 5, image_size=96)
    hub = write_hub_parquet(root, root / "hub" / "with_split", with_split_column=True)
    bare = write_hub_parquet(root, root / "hub" / "no_split", with_split_column=False)
    return root, hub, bare


def _same_split(a, b):
    assert a.refs == b.refs and a.sentences == b.sentences
    for name in ("sent_ids", "sent_ref", "token_ids", "attention_mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for i in range(len(a.refs)):
        np.testing.assert_array_equal(a.mask(i), b.mask(i))


@pytest.mark.parametrize("split", [*SPLITS])
def test_parquet_split_equals_the_refer_split(synthetic, split):
    root, hub, _ = synthetic
    images = image_dir(root, "synthetic")
    from_pickle = load_refer(root, "synthetic", "unc", split)
    from_parquet = load_split(hub, "synthetic", "unc", split, image_dir=images)
    assert len(from_parquet.refs) > 0
    _same_split(from_parquet, from_pickle)


def test_files_without_a_split_column_go_by_name_and_ref_count(synthetic, monkeypatch):
    root, _, bare = synthetic
    images = image_dir(root, "synthetic")
    with pytest.raises(LGFormerError, match="cannot be told from their names"):
        load_split(bare, "synthetic", "unc", "val", image_dir=images)
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    counts = {s: sum(r["split"] == s for r in refs) for s in SPLITS}
    names = {"train": "train", "validation": "val", "test": "testA", "testB": "testB"}
    monkeypatch.setitem(hf_parquet.HF_SPLIT_NAMES, ("synthetic", "unc"), names)
    monkeypatch.setitem(hf_parquet.REFER_REF_COUNTS, ("synthetic", "unc"), counts)
    for split in ("testA", "val"):  # the hub's "test" file is testA
        got = load_split(bare, "synthetic", "unc", split, image_dir=images)
        _same_split(got, load_refer(root, "synthetic", "unc", split))
    wrong = {**counts, "testA": counts["testA"] + 1}
    monkeypatch.setitem(hf_parquet.REFER_REF_COUNTS, ("synthetic", "unc"), wrong)
    with pytest.raises(LGFormerError, match="match neither"):
        load_split(bare, "synthetic", "unc", "val", image_dir=images)


def test_the_documented_table_matches_the_hub_counts():
    # jxu124/refcoco: train / validation / test / testB = 42404 / 3811 / 1975 / 1810 refs.
    names, counts = hf_parquet.HF_SPLIT_NAMES, hf_parquet.REFER_REF_COUNTS
    hub = {"train": 42404, "validation": 3811, "test": 1975, "testB": 1810}
    assert {n: counts["refcoco", "unc"][names["refcoco", "unc"][n]] for n in hub} == hub


def test_format_detection(synthetic, tmp_path):
    root, hub, _ = synthetic
    assert detect_format(root, "synthetic") == "refer"
    assert detect_format(hub, "synthetic") == "hf-parquet"
    (tmp_path / "synthetic").mkdir()
    (tmp_path / "synthetic" / "refs(unc).p").write_bytes(b"")
    (tmp_path / "a.parquet").write_bytes(b"")
    with pytest.raises(LGFormerError, match="holds both .* --data-format"):
        detect_format(tmp_path, "synthetic")


def test_a_missing_column_and_an_offline_hub_id_are_clear_errors(tmp_path, monkeypatch):
    import huggingface_hub.constants

    pq.write_table(pa.table({"ref_id": [1]}), tmp_path / "train-0.parquet")
    with pytest.raises(LGFormerError, match="lacks the column"):
        load_split(tmp_path, "refcoco", "unc", "train", image_dir=tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LGFormerError, match="is not a local folder"):
        load_split("nobody/refcoco", "refcoco", "unc", "val", data_format="hf-parquet")


def test_evaluate_gives_the_same_metrics_from_parquet(synthetic, tmp_path):
    root, hub, _ = synthetic
    common = ["evaluate", "--checkpoint", "bundled", "--dataset", "synthetic", "--split",
              "testA", "--num-workers", "0", "--device", "cpu", "--no-progress"]  # fmt: skip
    from lgformer.bundled import bundled_weights_path

    common[2] = str(bundled_weights_path())
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main([*common, "--data-root", str(root), "--output", str(a)]) == 0
    images = str(image_dir(root, "synthetic"))
    argv = ["--data-root", str(hub), "--data-format", "hf-parquet", "--image-dir", images]
    assert main([*common, *argv, "--output", str(b)]) == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["metrics"] == rb["metrics"] and ra["num_samples"] == rb["num_samples"] > 0


def test_train_reads_parquet_as_it_reads_refer_files(synthetic, tmp_path, capsys):
    import yaml

    from lgformer.engine.checkpoint import load_checkpoint

    root, hub, _ = synthetic
    images = str(image_dir(root, "synthetic"))
    import torch

    metrics = {}
    for name, data in (
        ("refer", {"root": str(root)}),
        ("parquet", {"root": str(hub), "format": "hf-parquet", "image_dir": images}),
    ):
        cfg = {
            "data": {**data, "dataset": "synthetic", "image_size": 32, "num_workers": 0,
                     "val_limit": 4},
            "model": {"preset": "test_tiny"},
            "init": {"swin": None, "bert": None},
            "optim": {"epochs": 1, "batch_size": 2, "lr": 1e-3, "precision": "fp32"},
            "max_steps": 2,
            "output": {"dir": str(tmp_path / name), "progress": False},
            "device": "cpu",
        }  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        assert main(["train", "--config", str(tmp_path / f"{name}.yaml")]) == 0
        metrics[name] = load_checkpoint(tmp_path / name / "last.pt")
    a, b = metrics["refer"], metrics["parquet"]  # the same samples in the same order:
    assert a["sampler"] == b["sampler"] and a["step"] == b["step"] == 2
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # same weights
