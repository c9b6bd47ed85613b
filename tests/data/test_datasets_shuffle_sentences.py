"""ReferTrainDataset(shuffle_sentences=True): the text-blind control's sentence permutation."""

import numpy as np
import pytest

from lgformer.data.datasets import ReferTrainDataset
from lgformer.data.refer import load_refer
from lgformer.data.synthetic import write_dataset
from lgformer.engine.config import load_train_config


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, 24, 5, image_size=64)
    return load_refer(root, "synthetic", "unc", "train")


def _sources(ds, epoch):
    ds.set_epoch(epoch)
    return [ds.sentence_source(i) for i in range(len(ds))]


def test_off_by_default_each_sample_keeps_its_sentences(split):
    ds = ReferTrainDataset(split, image_size=32, seed=0)
    assert _sources(ds, 0) == list(range(len(ds)))
    assert load_train_config().data.shuffle_sentences is False


def test_shuffle_is_a_seeded_permutation_new_each_epoch(split):
    a = ReferTrainDataset(split, image_size=32, seed=7, shuffle_sentences=True)
    b = ReferTrainDataset(split, image_size=32, seed=7, shuffle_sentences=True)
    n = len(a)
    assert n >= 20
    epochs = [_sources(a, e) for e in range(3)]
    for e, perm in enumerate(epochs):
        assert sorted(perm) == list(range(n))  # every sentence group dealt out once
        assert sum(p == i for i, p in enumerate(perm)) < n // 2  # far from the identity
        assert _sources(b, e) == perm  # seeded: identical in another instance
    assert epochs[0] != epochs[1] != epochs[2]
    c = ReferTrainDataset(split, image_size=32, seed=8, shuffle_sentences=True)
    assert _sources(c, 0) != epochs[0]


def test_items_keep_image_and_target_but_take_the_other_refs_sentence(split):
    plain = ReferTrainDataset(split, image_size=32, seed=3)
    shuffled = ReferTrainDataset(split, image_size=32, seed=3, shuffle_sentences=True)
    shuffled.set_epoch(1)
    for i in range(6):
        item, ref = shuffled[i], plain[i]
        assert item["ref_id"] == ref["ref_id"] and item["index"] == i
        np.testing.assert_array_equal(item["target"].numpy(), ref["target"].numpy())
        source = split.refs[shuffled.sentence_source(i)]
        row = shuffled.sentence_index(i)
        assert source.first_sentence <= row < source.first_sentence + source.num_sentences
        assert item["token_ids"].tolist() == split.token_ids[row].tolist()
        assert item["sent_id"] == int(split.sent_ids[row])


def test_build_datasets_passes_the_switch(split, tmp_path):
    from lgformer.data.sources import build_datasets

    root = split.refs[0].image_path.split("/images/")[0]
    cfg = load_train_config(
        overrides=[
            f"data.root={root}",
            "data.dataset=synthetic",
            "data.val_split=val",
            "data.image_size=32",
            "data.shuffle_sentences=true",
            "model.preset=test_tiny",
        ]
    )
    train, val, _ = build_datasets(cfg, 20)
    assert train.shuffle_sentences and not val.shuffle_sentences
