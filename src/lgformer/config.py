"""Typed model configuration and named presets.

The released LGFormer checkpoints are ``swin_base_w12`` with bert-base-uncased
(see ``RELEASED_PRESET``). Everything else is a variation a user may train.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lgformer.errors import LGFormerError

# Swin sizes from the Swin paper: (embed_dim, depths, num_heads).
SWIN_SIZES: dict[str, tuple[int, tuple[int, ...], tuple[int, ...]]] = {
    "tiny": (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "small": (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    "base": (128, (2, 2, 18, 2), (4, 8, 16, 32)),
    "large": (192, (2, 2, 18, 2), (6, 12, 24, 48)),
}

RELEASED_PRESET = "swin_base_w12"
MASK_UPSAMPLING = ("input", "padded")


@dataclass
class SwinConfig:
    """Swin backbone sizes. Stage i has ``embed_dim * 2**i`` channels."""

    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    # 12 for the 384-pixel ImageNet-22k weights used by every released checkpoint.
    window_size: int = 12
    mlp_ratio: float = 4.0
    # Stochastic depth rises linearly from 0 to this over all blocks (training only).
    drop_path_rate: float = 0.3
    patch_size: int = 4

    @property
    def stage_channels(self) -> tuple[int, ...]:
        return tuple(self.embed_dim * 2**i for i in range(len(self.depths)))


@dataclass
class TextEncoderConfig:
    """A BERT-family encoder; the fields are those of ``transformers.BertConfig``.

    Defaults are bert-base-uncased, the released setting. Any width works: the
    rest of the model reads ``hidden_size``.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int = 0

    def to_bert_config(self) -> Any:
        from transformers import BertConfig

        return BertConfig(**dataclasses.asdict(self))


@dataclass
class DecoderConfig:
    """Pixel decoder and mask decoder sizes (the published values by default)."""

    hidden_dim: int = 256
    num_heads: int = 8
    pixel_decoder_layers: int = 6
    # Deformable attention: sampling points per head and level.
    deform_points: int = 4
    deform_ffn_dim: int = 1024
    text_cross_attn_ffn_dim: int = 2048
    mask_decoder_layers: int = 6
    mask_decoder_ffn_dim: int = 2048
    group_norm_groups: int = 32
    # Dropout inside the decoders; the released model trains with 0.
    dropout: float = 0.0
    # How the stride-4 mask logits reach the input size H x W. "input": bilinear
    # straight to H x W, as the released code does (the parity contract). "padded":
    # to the size the patch embedding padded to (a multiple of 4), then cropped, so
    # logit cells stay on their pixels. Equal when H and W are multiples of 4; at other
    # sizes "padded" is the better choice for a model trained at multiples of 4
    # (bundled model at 125/126/127 px: overall IoU 67.3/67.6/67.9 vs 57.1/61.6/65.6).
    mask_upsampling: str = "input"


@dataclass
class LGFormerConfig:
    """Full model configuration; ``to_dict``/``from_dict`` round-trip through JSON/YAML."""

    swin: SwinConfig = field(default_factory=SwinConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    # Attention heads of the VLBA fusion block in each stage (released: 1 everywhere).
    fusion_heads: tuple[int, ...] = (1, 1, 1, 1)
    # Word slots: token ids are truncated / padded to this length.
    max_words: int = 20

    def __post_init__(self) -> None:
        sw, dec = self.swin, self.decoder
        for name, value in (
            ("swin.embed_dim", sw.embed_dim),
            ("swin.window_size", sw.window_size),
            ("swin.patch_size", sw.patch_size),
            ("decoder.hidden_dim", dec.hidden_dim),
            ("decoder.num_heads", dec.num_heads),
            ("decoder.group_norm_groups", dec.group_norm_groups),
            ("max_words", self.max_words),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        n = len(self.swin.depths)
        if n != 4 or len(self.swin.num_heads) != 4 or len(self.fusion_heads) != 4:
            raise ValueError(
                "LGFormer needs 4 Swin stages: depths, num_heads and fusion_heads must have 4 "
                f"entries each, got {self.swin.depths}, {self.swin.num_heads}, "
                f"{self.fusion_heads}"
            )
        for i, (c, h) in enumerate(zip(self.swin.stage_channels, self.fusion_heads)):
            if h < 1 or c % h or self.text.hidden_size % h:
                raise ValueError(
                    f"fusion_heads[{i}]={h} must divide stage width {c} and text width "
                    f"{self.text.hidden_size}"
                )
        for i, (c, h) in enumerate(zip(sw.stage_channels, sw.num_heads)):
            if h < 1 or c % h:
                raise ValueError(
                    f"swin.num_heads[{i}]={h} must divide stage width {c} (embed_dim * 2**{i})"
                )
        if dec.mask_upsampling not in MASK_UPSAMPLING:
            raise ValueError(
                f"decoder.mask_upsampling must be one of {MASK_UPSAMPLING}, got "
                f"{dec.mask_upsampling!r}"
            )
        if dec.hidden_dim % dec.group_norm_groups:
            raise ValueError("decoder.hidden_dim must be a multiple of decoder.group_norm_groups")
        if dec.hidden_dim % dec.num_heads or self.text.hidden_size % dec.num_heads:
            raise ValueError(
                f"decoder.num_heads={dec.num_heads} must divide decoder.hidden_dim "
                f"{dec.hidden_dim} and the text width {self.text.hidden_size}"
            )
        if self.max_words > self.text.max_position_embeddings:
            raise ValueError(
                f"max_words={self.max_words} exceeds text.max_position_embeddings="
                f"{self.text.max_position_embeddings}"
            )

    @property
    def text_dim(self) -> int:
        return self.text.hidden_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LGFormerConfig:
        """Inverse of ``to_dict``; unknown keys raise (listing the valid ones) so typos
        do not pass silently."""
        data = dict(_section(data, "model config", cls))
        sections = {"swin": SwinConfig, "text": TextEncoderConfig, "decoder": DecoderConfig}
        parts = {
            name: kind(**_tupled(_section(data.pop(name, {}), name, kind)))
            for name, kind in sections.items()
        }
        return cls(**parts, **_tupled(data))

    @classmethod
    def from_parity_config(cls, data: dict[str, Any]) -> LGFormerConfig:
        """Build from a parity fixture's ``config`` (keys embed_dim, depths, num_heads,
        window_size, fusion_heads, bert)."""
        swin = SwinConfig(
            embed_dim=data["embed_dim"],
            depths=tuple(data["depths"]),
            num_heads=tuple(data["num_heads"]),
            window_size=data["window_size"],
        )
        text = TextEncoderConfig(**data.get("bert", {}))
        return cls(swin=swin, text=text, fusion_heads=tuple(data.get("fusion_heads", (1,) * 4)))


def _section(data: Any, name: str, kind: type) -> dict[str, Any]:
    """``data`` checked to be a mapping whose keys are fields of the dataclass ``kind``."""
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be a mapping, got {type(data).__name__}: {data!r}")
    valid = [f.name for f in dataclasses.fields(kind)]
    unknown = [k for k in data if k not in valid]
    if unknown:
        raise ValueError(f"unknown {name} key(s) {unknown}; valid keys: {valid}")
    return data


def _tupled(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def swin_config(size: str, window_size: int = 7) -> SwinConfig:
    if size not in SWIN_SIZES:
        raise ValueError(f"unknown Swin size {size!r}; choose from {sorted(SWIN_SIZES)}")
    embed_dim, depths, heads = SWIN_SIZES[size]
    return SwinConfig(embed_dim=embed_dim, depths=depths, num_heads=heads, window_size=window_size)


def minilm_text_config() -> TextEncoderConfig:
    """all-MiniLM-L6-v2 (6 layers, 384 wide, bert-base-uncased vocabulary)."""
    return TextEncoderConfig(
        hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
    )


def _presets() -> dict[str, LGFormerConfig]:
    presets = {}
    for size in SWIN_SIZES:
        for window in (7, 12):
            presets[f"swin_{size}_w{window}"] = LGFormerConfig(swin=swin_config(size, window))
    # A small model that trains on a CPU: reduced Swin, MiniLM text, narrow decoders.
    presets["synthetic_small"] = LGFormerConfig(
        swin=SwinConfig(
            embed_dim=32,
            depths=(1, 1, 2, 1),
            num_heads=(1, 2, 4, 8),
            window_size=7,
            drop_path_rate=0.0,
        ),
        text=minilm_text_config(),
        decoder=DecoderConfig(
            hidden_dim=64,
            pixel_decoder_layers=2,
            deform_ffn_dim=256,
            text_cross_attn_ffn_dim=256,
            mask_decoder_layers=3,
            mask_decoder_ffn_dim=512,
            group_norm_groups=8,
        ),
    )
    # The smallest model that exercises every code path; for tests.
    presets["test_tiny"] = LGFormerConfig(
        swin=SwinConfig(
            embed_dim=16,
            depths=(1, 2, 1, 1),
            num_heads=(1, 1, 2, 2),
            window_size=4,
            drop_path_rate=0.0,
        ),
        text=TextEncoderConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=32,
        ),
        decoder=DecoderConfig(
            hidden_dim=32,
            num_heads=8,
            pixel_decoder_layers=2,
            deform_points=2,
            deform_ffn_dim=64,
            text_cross_attn_ffn_dim=64,
            mask_decoder_layers=2,
            mask_decoder_ffn_dim=64,
            group_norm_groups=32,
        ),
    )
    return presets


PRESETS: dict[str, LGFormerConfig] = _presets()


def build_config(preset: str = RELEASED_PRESET) -> LGFormerConfig:
    """A fresh copy of a named preset (see ``PRESETS``)."""
    if preset not in PRESETS:
        raise LGFormerError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return LGFormerConfig.from_dict(PRESETS[preset].to_dict())
