"""The request pipeline: decode (worker pool) -> model (micro-batched) -> masks (worker pool).

Used by both the JSON endpoint and the page, so both get the same bounds.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from lgformer.inference.predictor import ModelInput, ReferringSegmenter, masks_from_logits
from lgformer.inference.server.admission import Admission
from lgformer.inference.server.batching import MicroBatcher
from lgformer.inference.server.limits import ServeLimits
from lgformer.inference.server.parsing import check_sentences, decode_image

T = TypeVar("T")


@dataclass
class SentenceResult:
    sentence: str
    mask: np.ndarray  # (H, W) bool
    warnings: list[str] = field(default_factory=list)  # the tokenizer's, for this sentence

    @property
    def coverage(self) -> float:
        """The mask's share of the image, in percent, to 0.01."""
        return round(float(self.mask.mean()) * 100, 2)


@dataclass
class Segmentation:
    rgb: np.ndarray  # (H, W, 3) uint8, the decoded image
    results: list[SentenceResult]


class SegmentationService:
    """Segments uploaded images with one ``ReferringSegmenter`` within ``limits``."""

    def __init__(self, segmenter: ReferringSegmenter, limits: ServeLimits) -> None:
        self.segmenter, self.limits = segmenter, limits
        self.admission = Admission(limits.max_active, limits.max_queued)
        self.batcher: MicroBatcher[ModelInput, torch.Tensor] = MicroBatcher(
            self._run_batch,
            max_size=limits.batch_size,
            max_wait_s=limits.batch_wait_ms / 1000,
            size_of=lambda item: int(item.ids.shape[0]),
        )
        self._pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="lgformer-io")
        self._warnings_lock = threading.Lock()  # catch_warnings is process-wide

    async def in_pool(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` in the bounded worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def segment(self, data: bytes, sentences: list[str]) -> Segmentation:
        """Image file bytes and sentences -> masks at the image's size. Call inside
        ``admission.slot()``; raises ``RequestError``/``LGFormerError`` for bad input."""
        sentences = check_sentences(sentences, self.limits)
        rgb, prepared, notes = await self.in_pool(self._prepare, data, sentences)
        logits = await self.batcher.submit(prepared)  # (N, 1, h, w)
        masks = await self.in_pool(masks_from_logits, logits, prepared.size)
        results = [SentenceResult(s, m, n) for s, m, n in zip(sentences, masks, notes, strict=True)]
        return Segmentation(rgb, results)

    def _prepare(
        self, data: bytes, sentences: list[str]
    ) -> tuple[np.ndarray, ModelInput, list[list[str]]]:
        rgb = decode_image(data, self.limits)
        tokenizer = self.segmenter.tokenizer
        notes: list[list[str]] = []
        pairs = []
        with self._warnings_lock:
            for sentence in sentences:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    pairs.append(tokenizer.encode(sentence))
                notes.append([str(w.message) for w in caught])
        ids = torch.tensor([p[0] for p in pairs], dtype=torch.long)
        mask = torch.tensor([p[1] for p in pairs], dtype=torch.long)
        return rgb, self.segmenter.prepare(rgb, sentences, tokens=(ids, mask)), notes

    def _run_batch(self, items: list[ModelInput]) -> list[torch.Tensor]:
        return [logits.cpu() for logits in self.segmenter.forward(items)]

    def close(self) -> None:
        self.batcher.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
