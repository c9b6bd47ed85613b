"""BERT text encoder built from a config: no download, no pooler."""

from __future__ import annotations

from torch import nn

from lgformer.config import TextEncoderConfig


def build_text_encoder(cfg: TextEncoderConfig) -> nn.Module:
    """A ``transformers.BertModel`` (random init) whose state dict keys match the release."""
    from transformers import BertModel

    return BertModel(cfg.to_bert_config(), add_pooling_layer=False)
