"""``ReferringSegmenter``: image + sentences in, boolean masks out (no tensors needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lgformer.data.image_io import ImageLike, load_rgb
from lgformer.data.transforms import DEFAULT_SIZE, image_to_input
from lgformer.model import LGFormer
from lgformer.tokenizer import SentenceTokenizer


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ReferringSegmenter:
    """Wraps an ``LGFormer`` for inference on user images.

    The image is resized to ``image_size`` x ``image_size`` as in training, all
    sentences run in one batch, and the logits are upsampled to the original
    image size and thresholded at 0.

    Example::

        seg = ReferringSegmenter.from_checkpoint("lgformer_refcoco.pth")
        masks = seg.segment("photo.jpg", ["the man on the left", "the red car"])
        masks.shape  # (2, H, W) bool
    """

    def __init__(
        self,
        model: LGFormer,
        *,
        tokenizer: SentenceTokenizer | None = None,
        image_size: int = DEFAULT_SIZE,
        device: str | torch.device | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer or SentenceTokenizer(max_words=model.config.max_words)
        self.image_size = image_size

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str | torch.device | None = None,
        preset: str | None = None,
        image_size: int = DEFAULT_SIZE,
    ) -> ReferringSegmenter:
        """Loads any checkpoint ``lgformer.checkpoints.load_model`` understands."""
        from lgformer.checkpoints import load_model

        return cls(load_model(path, preset=preset), device=device, image_size=image_size)

    @torch.no_grad()
    def predict_logits(self, image: ImageLike, sentences: Sequence[str]) -> torch.Tensor:
        """Mask logits (N, H, W) float32 at the original image size, one per sentence."""
        if isinstance(sentences, str):
            sentences = [sentences]
        if len(sentences) == 0:
            raise ValueError("give at least one sentence")
        rgb = load_rgb(image)
        ids, mask = self.tokenizer(list(sentences))
        pixels = image_to_input(rgb, self.image_size).unsqueeze(0)  # (1, 3, S, S)
        pixels = pixels.expand(len(sentences), -1, -1, -1).to(self.device)  # (N, 3, S, S)
        logits = self.model(pixels, ids.to(self.device), mask.to(self.device)).pred_logits
        logits = F.interpolate(
            logits.float(), size=rgb.shape[:2], mode="bilinear", align_corners=False
        )  # (N, 1, H, W)
        return logits[:, 0].cpu()

    def segment(self, image: ImageLike, sentences: str | Sequence[str]) -> np.ndarray:
        """Boolean masks: (N, H, W) for a list of sentences, (H, W) for one string."""
        single = isinstance(sentences, str)
        masks = (self.predict_logits(image, [sentences] if single else sentences) > 0).numpy()
        return masks[0] if single else masks
