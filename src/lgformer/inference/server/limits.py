"""What one ``lgformer serve`` process lets its clients use, and what it tells them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeLimits:
    """Bounds on requests and on the work in flight.

    Memory in flight is bounded by ``max_active`` requests, each holding at most one
    decoded image of ``max_megapixels`` (3 bytes a pixel) and its masks (1 byte a pixel
    and sentence); queued requests hold only their connection.
    """

    max_image_bytes: int = 32 * 2**20  # the image file, before base64
    max_megapixels: float = 50.0  # decoded size, checked from the header before decoding
    max_sentences: int = 16  # per request
    max_sentence_chars: int = 1000  # per sentence, checked before tokenisation
    max_active: int = 16  # requests being read, decoded, segmented or encoded at once
    max_queued: int = 128  # requests waiting for an active slot; more get 503
    batch_size: int = 16  # sentences per model call (micro-batching across requests)
    batch_wait_ms: float = 5.0  # how long a model call waits for more requests to join
    workers: int = 2  # threads decoding, tokenising and encoding images
    body_timeout_s: float = 60.0  # a body that takes longer to arrive gets 408
    max_connections: int = 512  # open connections (idle, slow or busy); past it 503 at once

    @property
    def max_body_bytes(self) -> int:
        """A JSON body: the image in base64 (4/3 of the file, MIME line breaks) + sentences."""
        return self.max_image_bytes * 4 // 3 + self.max_image_bytes // 50 + 2**20

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)


@dataclass(frozen=True)
class ServedModel:
    """What ``GET /api/health`` and the page say about the loaded model."""

    name: str  # the checkpoint's file name, or "bundled synthetic model"
    preset: str | None  # the preset its configuration matches, if any
    image_size: int  # model input side in pixels
    bundled: bool = False  # the small model shipped with the package
    description: str = ""  # the command's line about it (source, preset, size and why)
