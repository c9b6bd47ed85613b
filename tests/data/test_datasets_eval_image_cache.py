"""ReferEvalDataset decodes an image once for all the sentences of its refs, and
collate_shared_images batches each image once."""

from __future__ import annotations

import torch

import lgformer.data.datasets as datasets
from lgformer.data.datasets import ReferEvalDataset, collate_samples, collate_shared_images
from lgformer.data.refer import load_refer


def _dataset(root) -> ReferEvalDataset:
    return ReferEvalDataset(load_refer(root, "synthetic", "unc", "train"), image_size=32)


def test_each_image_is_decoded_once_for_all_its_refs(tiny_synthetic, monkeypatch) -> None:
    decoded = []
    original = datasets.decode_image

    def counting(split, ref_index, image_size):
        decoded.append(split.refs[ref_index].image_id)
        return original(split, ref_index, image_size)

    monkeypatch.setattr(datasets, "decode_image", counting)
    ds = _dataset(tiny_synthetic)
    items = [ds[i] for i in range(len(ds))]
    image_ids = [ds.split.refs[int(r)].image_id for r in ds.split.sent_ref]
    runs = [i for i in range(len(image_ids)) if i == 0 or image_ids[i] != image_ids[i - 1]]
    assert len(ds.split.refs) > len(decoded) == len(runs) == len(set(image_ids))
    assert [item["image_id"] for item in items] == image_ids


def test_shared_images_batch_is_the_plain_batch(tiny_synthetic) -> None:
    ds = _dataset(tiny_synthetic)
    items = [ds[i] for i in range(len(ds))]
    shared, plain = collate_shared_images(items), collate_samples(items)
    assert shared["image"].shape[0] == len({item["image_id"] for item in items})
    assert shared["image_index"].dtype == torch.int64
    assert torch.equal(shared["image"][shared["image_index"]], plain["image"])
    assert shared["target"].dtype == torch.bool
    assert torch.equal(shared["target"], plain["target"] > 0.5)
    for key in ("token_ids", "attention_mask", "index", "ref_id", "sent_id", "image_id"):
        assert torch.equal(shared[key], plain[key]), key
