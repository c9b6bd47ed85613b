import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from lgformer.data.datasets import ReferEvalDataset, ReferTrainDataset, collate_samples
from lgformer.data.refer import load_refer
from lgformer.data.transforms import IMAGENET_MEAN, IMAGENET_STD

SIZE = 16


@pytest.fixture
def train_split(refcoco):
    return load_refer(refcoco.root, "refcoco", "unc", "train")


@pytest.fixture
def test_split(refcoco):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_refer(refcoco.root, "refcoco", "unc", "test")


def _expected_image(path: str) -> torch.Tensor:
    """The released transform written out by hand: Pillow bilinear, /255, ImageNet stats."""
    pil = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    x = np.asarray(pil, dtype=np.float32) / 255.0
    x = (x - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return torch.from_numpy(x).permute(2, 0, 1)


def _expected_target(mask: np.ndarray) -> np.ndarray:
    pil = Image.fromarray(mask.astype(np.uint8) * 255).resize((SIZE, SIZE), Image.NEAREST)
    return (np.asarray(pil) > 0).astype(np.float32)


def test_eval_item_fields(refcoco, test_split):
    ds = ReferEvalDataset(test_split, image_size=SIZE, keep_original=True)
    assert len(ds) == test_split.num_sentences == 7
    for i in range(len(ds)):
        item = ds[i]
        ref = test_split.refs[int(test_split.sent_ref[i])]
        assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
        torch.testing.assert_close(item["image"], _expected_image(ref.image_path))
        assert item["token_ids"].dtype == torch.int64 and item["token_ids"].shape == (20,)
        assert item["attention_mask"].dtype == torch.int64
        assert item["token_ids"].tolist() == test_split.token_ids[i].tolist()
        assert item["target"].dtype == torch.float32 and item["target"].shape == (SIZE, SIZE)
        expected = refcoco.masks[ref.ann_id]
        np.testing.assert_array_equal(item["target"].numpy(), _expected_target(expected))
        np.testing.assert_array_equal(item["orig_mask"].numpy(), expected)
        assert item["orig_size"].tolist() == list(expected.shape)
        assert (item["ref_id"], item["sent_id"], item["index"]) == (
            ref.ref_id,
            int(test_split.sent_ids[i]),
            i,
        )
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_eval_without_original_has_no_original_fields(test_split):
    item = ReferEvalDataset(test_split, image_size=SIZE)[0]
    assert "orig_mask" not in item and "orig_size" not in item


def test_collate_with_different_original_sizes(test_split):
    ds = ReferEvalDataset(test_split, image_size=SIZE, keep_original=True)
    batch = collate_samples([ds[i] for i in range(len(ds))])
    assert batch["image"].shape == (7, 3, SIZE, SIZE)
    assert batch["token_ids"].shape == (7, 20) and batch["token_ids"].dtype == torch.int64
    assert batch["target"].shape == (7, SIZE, SIZE)
    assert batch["ref_id"].tolist() == [5, 5, 6, 7, 7, 8, 9]
    assert batch["index"].tolist() == list(range(7))
    assert batch["orig_size"].shape == (7, 2)
    assert isinstance(batch["orig_mask"], list)
    assert {tuple(m.shape) for m in batch["orig_mask"]} == {(30, 40), (36, 28), (24, 24)}


def test_eval_loader_with_workers_matches_direct_access(test_split):
    ds = ReferEvalDataset(test_split, image_size=SIZE, keep_original=True)
    loader = DataLoader(ds, batch_size=3, num_workers=1, collate_fn=collate_samples)
    direct = collate_samples([ds[i] for i in range(len(ds))])
    batches = list(loader)
    torch.testing.assert_close(torch.cat([b["image"] for b in batches]), direct["image"])
    torch.testing.assert_close(torch.cat([b["target"] for b in batches]), direct["target"])


def test_train_dataset_one_sentence_per_object(train_split):
    ds = ReferTrainDataset(train_split, image_size=SIZE, seed=3)
    assert len(ds) == 2
    item = ds[1]
    assert item["ref_id"] == 2 and item["target"].shape == (SIZE, SIZE)
    assert item["sent_id"] in (102, 103, 104)
    row = ds.sentence_index(1)
    assert item["token_ids"].tolist() == train_split.token_ids[row].tolist()


def test_train_draws_are_seeded_and_change_with_the_epoch(train_split):
    a = ReferTrainDataset(train_split, image_size=SIZE, seed=0)
    b = ReferTrainDataset(train_split, image_size=SIZE, seed=0)
    draws = []
    for epoch in range(12):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert a.sentence_index(1) == b.sentence_index(1)
        draws.append(a.sentence_index(1))
    assert set(draws) == {2, 3, 4}  # every sentence of ref 2 gets drawn
    assert all(a.sentence_index(0) in (0, 1) for _ in range(3))
    a.set_epoch(5)
    assert a.epoch == 5 and a.sentence_index(1) == draws[5]


def test_set_epoch_reaches_persistent_workers(train_split):
    ds = ReferTrainDataset(train_split, image_size=SIZE, seed=1)
    loader = DataLoader(
        ds, batch_size=2, num_workers=1, persistent_workers=True, collate_fn=collate_samples
    )
    for epoch in (0, 7, 2):
        ds.set_epoch(epoch)
        (batch,) = list(loader)
        expected = [int(train_split.sent_ids[ds.sentence_index(i)]) for i in range(2)]
        assert batch["sent_id"].tolist() == expected
