"""Reconstructs an LGFormerConfig from the shapes of a released state dict.

Released checkpoints carry no model config; every size except attention head
counts can be read off the tensors. Head counts default to the published ones.
"""

from __future__ import annotations

import math
import re

import torch

from lgformer.config import (
    DecoderConfig,
    LGFormerConfig,
    SwinConfig,
    TextEncoderConfig,
)


def _count(sd: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := regex.match(k))})


def infer_config(sd: dict[str, torch.Tensor]) -> LGFormerConfig:
    """Config whose model has exactly the parameter shapes of ``sd``."""
    embed_dim = sd["backbone.patch_embed.proj.weight"].shape[0]
    stages = _count(sd, r"backbone\.layers\.(\d+)\.")
    depths = tuple(_count(sd, rf"backbone\.layers\.{i}\.blocks\.(\d+)\.") for i in range(stages))
    heads = tuple(
        sd[f"backbone.layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1]
        for i in range(stages)
    )
    table = sd["backbone.layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    window = (math.isqrt(table) + 1) // 2
    swin = SwinConfig(
        embed_dim=embed_dim,
        depths=depths,
        num_heads=heads,
        window_size=window,
    )

    words = sd["text_encoder.embeddings.word_embeddings.weight"]
    hidden = words.shape[1]
    text = TextEncoderConfig(
        vocab_size=words.shape[0],
        hidden_size=hidden,
        num_hidden_layers=_count(sd, r"text_encoder\.encoder\.layer\.(\d+)\."),
        # Not recoverable from shapes: BERT's usual 64-wide heads.
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=sd["text_encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=sd["text_encoder.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=sd["text_encoder.embeddings.token_type_embeddings.weight"].shape[0],
    )

    pre = "classifier.pix_dec.transformer.encoder."
    hidden_dim = sd["classifier.pix_dec.mask_features.weight"].shape[0]
    published = DecoderConfig()
    offsets = sd[pre + "layers.0.self_attn.sampling_offsets.weight"].shape[0]
    decoder = DecoderConfig(
        hidden_dim=hidden_dim,
        num_heads=published.num_heads,
        pixel_decoder_layers=_count(sd, rf"{re.escape(pre)}layers\.(\d+)\."),
        deform_points=offsets // (published.num_heads * 3 * 2),
        deform_ffn_dim=sd[pre + "layers.0.linear1.weight"].shape[0],
        text_cross_attn_ffn_dim=sd[pre + "cross_attn_layers.0.ffn.0.weight"].shape[0],
        mask_decoder_layers=_count(sd, r"classifier\.dynamic_conv_gen_body\.layers\.(\d+)\."),
        mask_decoder_ffn_dim=sd["classifier.dynamic_conv_gen_body.layers.0.ffn.0.weight"].shape[0],
        group_norm_groups=published.group_norm_groups if hidden_dim % 32 == 0 else 8,
    )
    max_words = sd[pre + "key_embed.weight"].shape[0]
    return LGFormerConfig(swin=swin, text=text, decoder=decoder, max_words=max_words)
