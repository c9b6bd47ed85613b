"""LGFormer: BERT words -> language-guided Swin -> pixel decoder -> sentence-query mask decoder."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lgformer.config import LGFormerConfig
from lgformer.model.backbone import BackboneOutput, LanguageGuidedSwin
from lgformer.model.mask_decoder import LGFormerHead
from lgformer.model.pixel_decoder import PixelDecoderOutput
from lgformer.model.swin import WindowAttention
from lgformer.model.text_encoder import build_text_encoder


@dataclass
class LGFormerOutput:
    """mask_logits: one (B, 1, H, W) map per decoder state (7 when released); last = prediction.

    ``backbone`` and ``pixel_decoder`` hold intermediates when requested.
    """

    mask_logits: list[torch.Tensor]
    backbone: BackboneOutput | None = None
    pixel_decoder: PixelDecoderOutput | None = None
    extras: dict = field(default_factory=dict)

    @property
    def pred_logits(self) -> torch.Tensor:
        return self.mask_logits[-1]


class LGFormer(nn.Module):
    """The full model; parameter names match the released checkpoints."""

    def __init__(
        self,
        *,
        config: LGFormerConfig,
        backbone: LanguageGuidedSwin,
        classifier: LGFormerHead,
        text_encoder: nn.Module,
    ) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.classifier = classifier
        self.text_encoder = text_encoder

    def forward(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        return_intermediates: bool = False,
    ) -> LGFormerOutput:
        """image (B, 3, H, W) normalised; token_ids, attention_mask (B, L) -> LGFormerOutput."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
        if token_ids.shape != attention_mask.shape or token_ids.shape[0] != image.shape[0]:
            raise ValueError(
                f"token_ids {tuple(token_ids.shape)} and attention_mask "
                f"{tuple(attention_mask.shape)} must both be (B, L) with B = {image.shape[0]}"
            )
        words = self.text_encoder(input_ids=token_ids, attention_mask=attention_mask)
        lang = words.last_hidden_state.transpose(1, 2)  # (B, D, L)
        mask = attention_mask.unsqueeze(-1).to(lang.dtype)  # (B, L, 1)
        bb = self.backbone(image, lang, mask)
        pix: list[PixelDecoderOutput] = []
        logits = self.classifier(bb.features, bb.text, attention_mask, tuple(image.shape[-2:]), pix)
        if return_intermediates:
            return LGFormerOutput(logits, backbone=bb, pixel_decoder=pix[0])
        return LGFormerOutput(logits)

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        """Recompute Swin blocks and BERT layers in the backward pass to save memory."""
        self.backbone.set_grad_checkpointing(enabled)
        bert = self.text_encoder
        # transformers >= 5 renamed the switch; fall back for 4.x.
        new_api = hasattr(bert, "activation_checkpointing_enable")
        enable = (
            bert.activation_checkpointing_enable if new_api else bert.gradient_checkpointing_enable
        )
        disable = (
            bert.activation_checkpointing_disable
            if new_api
            else bert.gradient_checkpointing_disable
        )
        if enabled:
            enable({"use_reentrant": False})
        else:
            disable()

    @torch.no_grad()
    def init_weights(self) -> None:
        """The released initialisation for the parts not loaded from pretrained weights.

        Swin: truncated normal (std .02) linears, unit LayerNorms; decoders:
        xavier-uniform matrices, star offsets for deformable attention; gates zero.
        BERT keeps the transformers initialisation.
        """
        for m in self.backbone.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, WindowAttention):
                nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)
        self.backbone.reset_gates(0.0)
        for p in self.classifier.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        from lgformer.model.deformable_attention import MSDeformAttn

        for m in self.classifier.modules():
            if isinstance(m, MSDeformAttn):
                m.reset_parameters()
        nn.init.normal_(self.classifier.pix_dec.transformer.level_embed)


def build_lgformer(config: LGFormerConfig) -> LGFormer:
    """Builds the model from a config, initialised as the released training did."""
    text_dim = config.text_dim
    model = LGFormer(
        config=config,
        backbone=LanguageGuidedSwin(
            swin=config.swin, text_dim=text_dim, fusion_heads=config.fusion_heads
        ),
        classifier=LGFormerHead(
            stage_channels=config.swin.stage_channels,
            cfg=config.decoder,
            text_dim=text_dim,
            max_words=config.max_words,
            mask_stride=config.swin.patch_size,
        ),
        text_encoder=build_text_encoder(config.text),
    )
    model.init_weights()
    return model
