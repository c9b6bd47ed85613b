"""Turning ``POST /api/segment`` bodies into (image bytes, sentences), and images into pixels.

Every refusal is a ``RequestError`` carrying the HTTP status to answer and a message
saying what to fix. Sizes are checked before the expensive step: the sentence lengths
before tokenisation, the image's pixel count from its header before decoding.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import warnings
from http import HTTPStatus

import numpy as np
from PIL import Image, UnidentifiedImageError

from lgformer.data.image_io import decode_image_bytes
from lgformer.errors import LGFormerError
from lgformer.inference.server.limits import ServeLimits

EXPECTED_BODY = '{"image": <data URL or base64 of an image file>, "sentences": [...]}'
EXPECTED_FORM = "multipart fields image=<image file> and sentence=<text> (repeat for more)"


class RequestError(LGFormerError):
    """A request the page or a client got wrong; carries the HTTP status to answer."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = int(status)


def megabytes(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def too_large(limits: ServeLimits, size: int | None = None) -> RequestError:
    """The 413 for an image file over ``limits.max_image_bytes`` (``size`` bytes if known)."""
    got = f" (this one is about {megabytes(size)})" if size else ""
    return RequestError(
        f"the image is too large: at most a {megabytes(limits.max_image_bytes)} image "
        f"file{got}; downscale or recompress it",
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    )


def parse_json_body(body: bytes, limits: ServeLimits) -> tuple[bytes, list[str]]:
    """A JSON ``/api/segment`` body -> (image file bytes, checked sentences)."""
    if not body:
        raise RequestError(f"the request body is empty: send {EXPECTED_BODY}")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"the request body is not JSON ({err}): send {EXPECTED_BODY}") from err
    except RecursionError as err:
        raise RequestError(f"the request body is nested too deeply: send {EXPECTED_BODY}") from err
    if not isinstance(payload, dict):
        raise RequestError(f"send a JSON object: {EXPECTED_BODY}")
    sentences = payload.get("sentences")
    if isinstance(sentences, str):
        sentences = [sentences]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise RequestError('"sentences" must be a list of strings')
    sentences = check_sentences(sentences, limits)
    image = payload.get("image")
    if not isinstance(image, str) or not image:
        raise RequestError('"image" must be a data URL or base64 string of an image file')
    encoded = image.split(",", 1)[1] if image.startswith("data:") and "," in image else image
    encoded = "".join(encoded.split())  # MIME base64 (`base64 photo.jpg`) wraps its lines
    if len(encoded) * 3 // 4 > limits.max_image_bytes:
        raise too_large(limits, len(encoded) * 3 // 4)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(f'"image" is not valid base64: {err}') from err
    return data, sentences


def check_sentences(sentences: list[str], limits: ServeLimits) -> list[str]:
    """Stripped non-empty sentences, within the count and length limits."""
    sentences = [s.strip() for s in sentences if s.strip()]
    if not sentences:
        raise RequestError("give at least one referring sentence")
    if len(sentences) > limits.max_sentences:
        raise RequestError(
            f"at most {limits.max_sentences} sentences per request, got {len(sentences)}"
        )
    for i, sentence in enumerate(sentences):
        if len(sentence) > limits.max_sentence_chars:
            raise RequestError(
                f"sentence {i + 1} is {len(sentence)} characters long: at most "
                f"{limits.max_sentence_chars} (the model reads only its first ~18 words)"
            )
    return sentences


def decode_image(data: bytes, limits: ServeLimits) -> np.ndarray:
    """Image file bytes -> (H, W, 3) uint8, refusing too many pixels before decoding."""
    if len(data) > limits.max_image_bytes:
        raise too_large(limits, len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:  # reads the header only
                width, height = opened.size
    except Image.DecompressionBombError:
        width = height = None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        width = height = 0  # unreadable: decode_image_bytes says why
    if width is None or width * height > limits.max_pixels:
        size = f"{width}x{height} pixels ({width * height / 1e6:.0f} MP)" if width else "huge"
        raise RequestError(
            f"the image is too large: {size}, at most {limits.max_megapixels:g} megapixels; "
            "downscale it first",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )
    return decode_image_bytes(data)
