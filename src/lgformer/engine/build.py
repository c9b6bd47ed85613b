"""Build what a training run needs from its config: the model (with its initial
weights) and the REFER datasets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset, Subset

from lgformer.engine.config import TrainConfig
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer, build_lgformer


def build_model(
    cfg: TrainConfig, *, load_pretrained: bool = True, log: Callable[[str], None] = print
) -> LGFormer:
    """``build_lgformer`` from ``cfg.model``, then the ``cfg.init`` weights in order:
    Swin ImageNet, BERT, a whole LGFormer checkpoint (fine-tuning, overrides both).

    ``load_pretrained=False`` skips the files (a resumed run loads everything anyway).
    """
    with warnings.catch_warnings():
        # transformers' notes about randomly initialised BERT weights are expected here.
        warnings.simplefilter("ignore")
        model = build_lgformer(cfg.model.build())
    if cfg.init.gate_std > 0:
        model.backbone.reset_gates(cfg.init.gate_std)
    if not load_pretrained:
        return model
    init = cfg.init
    if init.swin:
        from lgformer.checkpoints.imagenet import load_swin_imagenet

        report = load_swin_imagenet(model.backbone, init.swin)
        log(report.summary(f"Swin ImageNet weights {init.swin}"))
    if init.bert:
        from lgformer.checkpoints.bert import load_bert_weights

        report = load_bert_weights(model.text_encoder, init.bert)
        log(report.summary(f"BERT weights {init.bert}"))
    if init.checkpoint:
        from lgformer.checkpoints import load_checkpoint_into

        load_checkpoint_into(model, init.checkpoint)
        log(f"LGFormer weights {init.checkpoint}: all tensors loaded")
    return model


def build_datasets(
    cfg: TrainConfig, max_words: int
) -> tuple[Dataset, Dataset | None, Callable[[list[dict[str, Any]]], dict[str, Any]]]:
    """(train set, validation set or None, collate function) from ``cfg.data``.

    Training draws one sentence per object per epoch (with the category labels of
    its image when the config uses the category loss); validation uses one seeded random
    sentence per object, the same in every epoch so that epochs
    compare fairly for best.pt.
    """
    from lgformer.data.datasets import ReferTrainDataset, collate_samples
    from lgformer.data.sources import detect_format, load_split
    from lgformer.tokenizer import SentenceTokenizer

    data = cfg.data
    tokenizer = SentenceTokenizer(max_words=max_words)
    source = {"data_format": data.format, "image_dir": data.image_dir, "tokenizer": tokenizer}
    train_split = load_split(data.root, data.dataset, data.split_by, data.train_split, **source)
    categories = None
    if cfg.optim.uses_categories:
        from lgformer.data.categories import load_image_categories

        if data.format == "hf-parquet" or detect_format(data.root, data.dataset) != "refer":
            raise LGFormerError(
                "the category loss needs COCO's instances.json (every object of an image), "
                "which the parquet copies lack: use REFER files, or turn the loss off"
            )
        image_ids = {ref.image_id for ref in train_split.refs}
        categories = load_image_categories(data.root, data.dataset, image_ids)
    train_set = ReferTrainDataset(
        train_split,
        image_size=data.image_size,
        seed=cfg.seed,
        shuffle_sentences=data.shuffle_sentences,
        categories=categories,
        cache_decoded=data.cache_decoded,
    )
    val_set: Dataset | None = None
    if cfg.validate and data.val_split:
        val_split = load_split(data.root, data.dataset, data.split_by, data.val_split, **source)
        val_set = ReferTrainDataset(
            val_split, image_size=data.image_size, seed=cfg.seed, cache_decoded=data.cache_decoded
        )
        if data.val_limit is not None and data.val_limit < len(val_set):
            val_set = Subset(val_set, range(data.val_limit))
    return train_set, val_set, collate_samples
