"""LGFormer: BERT words -> language-guided Swin -> pixel decoder -> sentence-query mask decoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelHubMixin
from torch import nn

from lgformer.config import LGFormerConfig
from lgformer.model.autocast import autocast_enabled
from lgformer.model.backbone import BackboneOutput, LanguageGuidedSwin
from lgformer.model.mask_decoder import LGFormerHead
from lgformer.model.pixel_decoder import PixelDecoderOutput
from lgformer.model.swin import WindowAttention
from lgformer.model.text_encoder import build_text_encoder
from lgformer.model_info import ModelInfo


@dataclass
class LGFormerOutput:
    """mask_logits: one (B, 1, H, W) map per decoder state (7 when released); last = prediction.

    ``backbone`` and ``pixel_decoder`` hold intermediates when requested.
    """

    mask_logits: list[torch.Tensor]
    backbone: BackboneOutput | None = None
    pixel_decoder: PixelDecoderOutput | None = None

    @property
    def pred_logits(self) -> torch.Tensor:
        return self.mask_logits[-1]


class LGFormer(
    nn.Module,
    ModelHubMixin,
    library_name="lgformer",
    tags=["referring-image-segmentation"],
    pipeline_tag="image-segmentation",
):
    """The full model; parameter names match the released checkpoints.

    ``model_info`` is what its file recorded: the input size it was trained at and its
    origin (``lgformer.model_info``); loading sets it, saving writes it.

    ``save_pretrained(dir)`` writes a Hugging Face-style folder (``config.json`` +
    ``model.safetensors``, see ``lgformer.checkpoints.folder``); ``from_pretrained`` reads
    one from a local folder, or from a hub repo id where there is a network.
    """

    model_info: ModelInfo = ModelInfo()

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

    def _save_pretrained(self, save_directory: Path) -> None:
        from lgformer.checkpoints.io import write_model_folder

        write_model_folder(self, save_directory)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        force_download: bool = False,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> LGFormer:
        """The model in a local folder (``save_pretrained``, ``lgformer convert``) or, where
        there is a network, in hub repo ``pretrained_model_name_or_path``; eval mode, on
        the CPU (``map_location=`` another device). A missing model is an ``LGFormerError``."""
        from lgformer.checkpoints.folder import hub_folder

        folder = hub_folder(
            str(pretrained_model_name_or_path),
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        return super().from_pretrained(folder, **model_kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        map_location: str | torch.device = "cpu",
        **ignored: Any,  # hub options (already resolved) and config.json's content
    ) -> LGFormer:
        # Not lgformer.checkpoints.load_model: that module imports this one.
        from lgformer.checkpoints.io import load_model_with

        return load_model_with(build_lgformer, model_id, map_location)

    def forward(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor | None = None,
        return_intermediates: bool = False,
    ) -> LGFormerOutput:
        """image (B, 3, H, W) normalised; token_ids, attention_mask (B, L) -> LGFormerOutput.

        Several sentences about one image: pass each image once, image (K, 3, H, W), and
        ``image_index`` (B,) int64, the image of each sentence; the text-free first Swin
        stage then runs once per image (the outputs are those of the repeated images).

        Inputs are checked first (see ``check_inputs``): a wrong shape, dtype, device
        or id range is a ``ValueError``/``TypeError`` naming the argument.
        """
        bb = self.language_guided_features(image, token_ids, attention_mask, image_index)
        size = tuple(image.shape[-2:])
        logits, pix = self.classifier(bb.features, bb.text, attention_mask, size)
        if return_intermediates:
            return LGFormerOutput(logits, backbone=bb, pixel_decoder=pix)
        return LGFormerOutput(logits)

    def language_guided_features(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        image_index: torch.Tensor | None = None,
    ) -> BackboneOutput:
        """The model up to the decoders, inputs checked as in ``forward``: the words
        through the text encoder, then the language-guided Swin.

        image (B, 3, H, W); token_ids, attention_mask (B, L) -> the four fused maps
        (B, C_i, H / 4 / 2^i, W / 4 / 2^i) and the last fusion's words (B, D, L).
        """
        vocab_size, max_words = self._input_limits()
        check_inputs(
            image,
            token_ids,
            attention_mask,
            vocab_size=vocab_size,
            max_words=max_words,
            weight=self.backbone.patch_embed.proj.weight,
            image_index=image_index,
            # The id-range check reads values back (a device sync); a training step's ids
            # come from the tokenizer, so it runs only outside training mode.
            check_values=not self.training,
        )
        # One memory layout: a channels-last image takes the same kernels as any other,
        # so it gives the same logits bit for bit (no copy when already contiguous).
        image = image.contiguous()
        words = self.text_encoder(input_ids=token_ids, attention_mask=attention_mask)
        lang = words.last_hidden_state.transpose(1, 2)  # (B, D, L)
        mask = attention_mask.unsqueeze(-1).to(lang.dtype)  # (B, L, 1)
        return self.backbone(image, lang, mask, image_index)

    def _input_limits(self) -> tuple[int, int]:
        """(vocab_size, max_words) of the modules themselves, not of a possibly edited config."""
        get_embeddings = getattr(self.text_encoder, "get_input_embeddings", None)
        embeddings = get_embeddings() if get_embeddings is not None else None
        vocab_size = (
            embeddings.num_embeddings
            if isinstance(embeddings, nn.Embedding)
            else self.config.text.vocab_size
        )
        return vocab_size, self.classifier.pix_dec.transformer.encoder.key_embed.num_embeddings

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


_ID_DTYPES = (torch.int64, torch.int32)


def _check_image(image: torch.Tensor, weight: torch.Tensor) -> None:
    """image (B, 3, H, W), floating point, B, H, W >= 1, the weights' dtype unless autocast."""
    shape = tuple(image.shape)
    if image.ndim != 4 or shape[1] != 3:
        hint = " (add the batch axis: image[None])" if image.ndim == 3 else ""
        raise ValueError(f"image must be (B, 3, H, W), got {shape}{hint}")
    if 0 in shape:
        raise ValueError(f"image must be (B, 3, H, W) with B, H, W >= 1, got {shape}")
    if not image.is_floating_point():
        raise TypeError(
            f"image must be a floating-point tensor normalised with the ImageNet mean and "
            f"std, got {image.dtype}"
        )
    if image.dtype != weight.dtype and not autocast_enabled(image.device.type):
        raise TypeError(
            f"image is {image.dtype} but the model's weights are {weight.dtype}: cast the "
            f"image (image.to({weight.dtype})) or the model, or run under torch.autocast"
        )


def _check_words(
    token_ids: torch.Tensor, attention_mask: torch.Tensor, batch: int, max_words: int
) -> None:
    """token_ids (B, L) long/int and attention_mask (B, L), 1 <= L <= max_words."""
    if token_ids.ndim != 2:
        raise ValueError(f"token_ids must be (B, L), got {tuple(token_ids.shape)}")
    if token_ids.dtype not in _ID_DTYPES:
        raise TypeError(f"token_ids must be torch.long (or torch.int), got {token_ids.dtype}")
    if attention_mask.shape != token_ids.shape:
        raise ValueError(
            f"attention_mask {tuple(attention_mask.shape)} must have the shape of token_ids "
            f"{tuple(token_ids.shape)}: (B, L)"
        )
    if token_ids.shape[0] != batch:
        raise ValueError(
            f"token_ids and attention_mask {tuple(token_ids.shape)} must be (B, L) with the "
            f"image's batch B = {batch}"
        )
    if not 1 <= token_ids.shape[1] <= max_words:
        raise ValueError(
            f"token_ids has {token_ids.shape[1]} word slots; this model takes 1 to "
            f"max_words = {max_words} (the tokenizer truncates and pads to max_words)"
        )


def _check_word_values(
    token_ids: torch.Tensor, attention_mask: torch.Tensor, vocab_size: int
) -> None:
    """Ids in [0, vocab_size) and a 0/1 mask: one (B, L) reduction, one device sync.

    An id outside the vocabulary would be an opaque IndexError on CPU and a
    device-side assert (a dead CUDA context) on GPU.
    """
    lo, hi = token_ids.aminmax()
    not_binary = ((attention_mask != 0) & (attention_mask != 1)).any()
    lo_, hi_, bad_mask = torch.stack([lo.long(), hi.long(), not_binary.long()]).tolist()
    if lo_ < 0 or hi_ >= vocab_size:
        raise ValueError(
            f"token_ids must lie in [0, {vocab_size}) (the text encoder's vocab_size), "
            f"got values from {lo_} to {hi_}"
        )
    if bad_mask:
        raise ValueError("attention_mask must hold only 0 (padding) and 1 (word)")


def _check_image_index(image_index: torch.Tensor, images: int, device: torch.device) -> None:
    """image_index (B,) int64 on ``device``, B >= 1, values in [0, images)."""
    if not isinstance(image_index, torch.Tensor) or image_index.dtype != torch.int64:
        raise TypeError(f"image_index must be a torch.long tensor, got {image_index!r:.80}")
    if image_index.ndim != 1 or image_index.shape[0] == 0:
        raise ValueError(f"image_index must be (B,) with B >= 1, got {tuple(image_index.shape)}")
    if image_index.device != device:
        raise ValueError(f"image_index is on {image_index.device} but the model is on {device}")
    lo, hi = image_index.aminmax()
    if int(lo) < 0 or int(hi) >= images:
        raise ValueError(
            f"image_index must lie in [0, {images}) (the images given), got values from "
            f"{int(lo)} to {int(hi)}"
        )


def check_inputs(
    image: torch.Tensor,
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    vocab_size: int,
    max_words: int,
    weight: torch.Tensor,
    image_index: torch.Tensor | None = None,
    check_values: bool = True,
) -> None:
    """Raises a clear error for inputs the layers would reject deep inside, or misread.

    image (B, 3, H, W) floating point (``weight``'s dtype unless autocast is on), or
    (K, 3, H, W) with ``image_index`` (B,) int64 in [0, K);
    token_ids (B, L) long/int in [0, vocab_size), 1 <= L <= max_words;
    attention_mask (B, L) of 0/1 (any dtype); all on ``weight``'s device. Shapes, dtypes
    and devices cost nothing to check; ``check_values`` also checks the id range and the
    mask's values, which needs one device sync.
    """
    for name, t in (("image", image), ("token_ids", token_ids), ("attention_mask", attention_mask)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.device != weight.device:
            raise ValueError(f"{name} is on {t.device} but the model is on {weight.device}")
    _check_image(image, weight)
    batch = image.shape[0]
    if image_index is not None:
        _check_image_index(image_index, batch, weight.device)
        batch = image_index.shape[0]
    _check_words(token_ids, attention_mask, batch, max_words)
    # An exported graph (ONNX) has no values to check.
    if check_values and not torch.compiler.is_exporting():
        _check_word_values(token_ids, attention_mask, vocab_size)


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
