"""``ReferringSegmenter``: image + sentences in, boolean masks out (no tensors needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lgformer.data.image_io import ImageLike, load_rgb
from lgformer.data.transforms import image_to_input
from lgformer.errors import LGFormerError
from lgformer.export.onnx_model import OnnxLGFormer
from lgformer.model import LGFormer
from lgformer.model_info import ModelInfo, choose_image_size, describe_model, preset_of
from lgformer.tokenizer import SentenceTokenizer


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` (``None``: cuda if any, else cpu), checked usable; ``LGFormerError`` if not."""
    if device is None:
        return default_device()
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise LGFormerError(f"unknown device {str(device)!r}: use cpu, cuda or cuda:N") from err
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise LGFormerError(f"device {str(device)!r}: no CUDA GPU is usable here; use cpu")
        if (resolved.index or 0) >= count:
            raise LGFormerError(
                f"device {str(device)!r}: this machine has {count} CUDA GPU(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    elif resolved.type != "cpu":
        try:
            torch.empty(0, device=resolved)
        except (RuntimeError, AssertionError) as err:
            raise LGFormerError(f"device {str(device)!r} is not usable here; use cpu") from err
    return resolved


MIN_IMAGE_SIZE = 64  # two cells at the backbone's stride 32; smaller inputs give noise


def check_image_size(image_size: int) -> int:
    """``image_size`` if it is a usable model input side; ``LGFormerError`` if not."""
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, Integral)
        or image_size < MIN_IMAGE_SIZE
    ):
        raise LGFormerError(
            f"image size must be a whole number of pixels, at least {MIN_IMAGE_SIZE}, "
            f"got {image_size!r}"
        )
    return int(image_size)


def sentence_list(sentences: str | Iterable[str]) -> list[str]:
    """``[sentences]`` for one string, else the iterable's items; ``LGFormerError`` for
    anything else (``None``, a number, bytes)."""
    if isinstance(sentences, str):
        return [sentences]
    if not isinstance(sentences, (bytes, bytearray)):
        try:
            return list(sentences)
        except TypeError:
            pass
    raise LGFormerError(
        f"sentences must be a string or a list of strings, got {type(sentences).__name__}"
    )


@dataclass(frozen=True)
class ModelInput:
    """One image and its sentences, ready for ``ReferringSegmenter.forward``."""

    pixels: torch.Tensor  # (1, 3, S, S) float32, ImageNet-normalised, S = image_size
    ids: torch.Tensor  # (N, L) int64 token ids, one row per sentence
    mask: torch.Tensor  # (N, L) int64 attention mask
    size: tuple[int, int]  # (H, W) of the original image


class ReferringSegmenter:
    """Wraps an ``LGFormer`` for inference on user images.

    The image is resized to ``image_size`` x ``image_size`` as in training, all
    sentences run in one batch, and the logits are upsampled to the original
    image size and thresholded at 0, one sentence at a time.

    Example::

        seg = ReferringSegmenter.from_checkpoint("lgformer_refcoco.pth")
        masks = seg.segment("photo.jpg", ["the man on the left", "the red car"])
        masks.shape  # (2, H, W) bool
    """

    def __init__(
        self,
        model: LGFormer | OnnxLGFormer,
        *,
        tokenizer: SentenceTokenizer | None = None,
        image_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        """``image_size`` ``None``: the size ``model.model_info`` records (480 if none);
        another size than the recorded one runs, with a warning."""
        self.device = resolve_device(device)
        if image_size is not None:
            check_image_size(image_size)
        info = getattr(model, "model_info", ModelInfo())
        self.image_size, self.image_size_reason = choose_image_size(info, image_size)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer or SentenceTokenizer(max_words=model.config.max_words)
        self.source = "a model in memory"  # from_checkpoint: the file or folder
        self._origin = info.origin

    @property
    def description(self) -> str:
        """One line: which model, preset and input size this segmenter runs, and why."""
        preset = preset_of(self.model.config)
        return describe_model(
            self.source, preset, self.image_size, self.image_size_reason, self._origin
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        *,
        device: str | torch.device | None = None,
        preset: str | None = None,
        image_size: int | None = None,
        report: Callable[[str], None] | None = None,
    ) -> ReferringSegmenter:
        """Loads a released ``.pth``, training ``.pt``, ``.safetensors``, model folder or
        ``.onnx`` export, run by onnxruntime (``None``: the bundled model).

        ``image_size`` ``None``: the size the file records (an ``.onnx`` file takes only
        that one). ``report`` gets a line before each slow loading step."""
        from lgformer.bundled import bundled_weights_path
        from lgformer.checkpoints import load_model
        from lgformer.export.onnx_model import is_onnx_file

        device = resolve_device(device)  # before loading
        if image_size is not None:
            check_image_size(image_size)
        source = "the bundled model" if path is None else str(path)
        path = bundled_weights_path() if path is None else path
        if is_onnx_file(path):
            model = OnnxLGFormer(path).to(device)
            fixed = model.model_info.image_size
            if image_size not in (None, fixed):
                raise LGFormerError(
                    f"{path} was exported for {fixed}x{fixed} images, not {image_size}: "
                    "leave the image size out, or export again with --image-size"
                )
        else:
            model = load_model(path, preset=preset, report=report)
        seg = cls(model, device=device, image_size=image_size)
        seg.source = source
        return seg

    def prepare(
        self,
        image: ImageLike,
        sentences: Sequence[str],
        *,
        tokens: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> ModelInput:
        """One image and its sentences as model inputs, on the CPU (no model call).

        ``tokens``: the sentences' (N, L) ids and attention mask if already tokenised.
        """
        sentences = sentence_list(sentences)
        if len(sentences) == 0:
            raise LGFormerError("give at least one sentence")
        odd = [s for s in sentences if not isinstance(s, str)]
        if odd:
            raise LGFormerError(f"sentences must be strings, got {type(odd[0]).__name__}")
        rgb = load_rgb(image)
        ids, mask = tokens if tokens is not None else self.tokenizer(list(sentences))
        pixels = image_to_input(rgb, self.image_size).unsqueeze(0)  # (1, 3, S, S)
        return ModelInput(pixels, ids, mask, (int(rgb.shape[0]), int(rgb.shape[1])))

    @torch.no_grad()
    def forward(self, inputs: Sequence[ModelInput]) -> list[torch.Tensor]:
        """Several prepared inputs through the model in one batch (micro-batching).

        Returns one (N_i, 1, h, w) logits tensor on ``self.device`` per input, N_i its
        sentence count; each image is repeated once per sentence of its own.
        """
        counts = [int(item.ids.shape[0]) for item in inputs]
        pixels = torch.cat(
            [item.pixels.expand(n, -1, -1, -1) for item, n in zip(inputs, counts, strict=True)]
        ).to(self.device)  # (sum N_i, 3, S, S)
        ids = torch.cat([item.ids for item in inputs]).to(self.device)
        mask = torch.cat([item.mask for item in inputs]).to(self.device)
        logits = self.model(pixels, ids, mask).pred_logits  # (sum N_i, 1, h, w)
        return list(torch.split(logits, counts))

    def _model_logits(
        self, image: ImageLike, sentences: Sequence[str]
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """Low-resolution mask logits (N, 1, h, w) on ``self.device`` and the image's (H, W).

        ``h``, ``w`` are what the model outputs for a ``image_size`` input; nothing is
        upsampled yet, so this costs little memory whatever the image size.
        """
        prepared = self.prepare(image, sentences)
        return self.forward([prepared])[0], prepared.size

    @torch.no_grad()
    def predict_logits(self, image: ImageLike, sentences: Sequence[str]) -> torch.Tensor:
        """Mask logits (N, H, W) float32 on the CPU at the original image size, one per sentence.

        The result holds 4 bytes per pixel and sentence (1.5 GB for 8 sentences on a
        48 MP photo); for masks use ``segment``, which needs 1 byte per pixel and
        sentence. Each sentence is upsampled on its own, so the device holds one
        (H, W) float32 map at a time.
        """
        logits, size = self._model_logits(image, sentences)  # (N, 1, h, w)
        out = torch.empty((logits.shape[0], *size), dtype=torch.float32)
        for i in range(logits.shape[0]):
            out[i] = upsample_logits(logits[i : i + 1], size).cpu()
        return out

    @torch.no_grad()
    def segment(self, image: ImageLike, sentences: str | Sequence[str]) -> np.ndarray:
        """Boolean masks: (N, H, W) for a list of sentences, (H, W) for one string.

        The same masks as ``predict_logits(...) > 0``, but each sentence is upsampled
        and thresholded on its own: beside the (N, H, W) bool result, memory holds
        one (H, W) float32 map at a time, not N of them.
        """
        single = isinstance(sentences, str)
        logits, size = self._model_logits(image, [sentences] if single else sentences)
        masks = masks_from_logits(logits, size)
        return masks[0] if single else masks


@torch.no_grad()
def masks_from_logits(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(N, 1, h, w) logits -> (N, H, W) bool masks at ``size`` = (H, W), one sentence at a
    time: beside the result, memory holds one (H, W) float32 map."""
    masks = np.empty((logits.shape[0], *size), dtype=bool)
    for i in range(logits.shape[0]):
        masks[i] = (upsample_logits(logits[i : i + 1], size) > 0).cpu().numpy()
    return masks


def upsample_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(1, 1, h, w) logits of one sentence -> (H, W) float32 on the same device, bilinear."""
    up = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
    return up[0, 0]
