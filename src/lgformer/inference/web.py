"""A local browser page for segmenting your own images (``lgformer serve``).

Standard library only: ``http.server`` serves one HTML page and one JSON endpoint.

``POST /api/segment`` takes ``{"image": <data URL or base64 of an image file>,
"sentences": [str, ...]}`` and answers ``{"width", "height", "results": [{"sentence",
"coverage", "overlay", "mask"}]}`` where ``overlay`` and ``mask`` are PNG data URLs at
the image's own size and ``coverage`` is the mask's share of the image in percent.
Bad input (not JSON, no sentence, an empty or over-long list, an unreadable image, a
body over the size limit) answers 4xx with ``{"error": <what to fix>}``; the server
keeps running.

Meant for one user on their own machine: it binds 127.0.0.1 by default and runs one
model call at a time.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any

import numpy as np
from PIL import Image

from lgformer.data.image_io import decode_image_bytes
from lgformer.errors import LGFormerError
from lgformer.inference.predictor import ReferringSegmenter
from lgformer.inference.visualize import PALETTE, overlay_mask

MAX_BODY_BYTES = 30 * 2**20  # a 20 MB photo grows by a third in base64
MAX_SENTENCES = 16


class RequestError(LGFormerError):
    """A request the page or a client got wrong; carries the HTTP status to answer."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


def png_data_url(array: np.ndarray) -> str:
    """(H, W, 3) uint8 or (H, W) bool -> ``data:image/png;base64,...``."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def parse_request(body: bytes) -> tuple[np.ndarray, list[str]]:
    """A ``/api/segment`` body -> ((H, W, 3) uint8 image, sentences); ``RequestError`` if bad."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"the request body is not JSON: {err}") from err
    if not isinstance(payload, dict):
        raise RequestError('send a JSON object: {"image": ..., "sentences": [...]}')
    sentences = payload.get("sentences")
    if isinstance(sentences, str):
        sentences = [sentences]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise RequestError('"sentences" must be a list of strings')
    sentences = [s.strip() for s in sentences if s.strip()]
    if not sentences:
        raise RequestError("give at least one referring sentence")
    if len(sentences) > MAX_SENTENCES:
        raise RequestError(f"at most {MAX_SENTENCES} sentences per request, got {len(sentences)}")
    image = payload.get("image")
    if not isinstance(image, str) or not image:
        raise RequestError('"image" must be a data URL or base64 string of an image file')
    encoded = image.split(",", 1)[1] if image.startswith("data:") and "," in image else image
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(f'"image" is not valid base64: {err}') from err
    return decode_image_bytes(data), sentences


class SegmentationService:
    """Runs requests through one ``ReferringSegmenter``, one at a time."""

    def __init__(self, segmenter: ReferringSegmenter) -> None:
        self.segmenter = segmenter
        self._lock = threading.Lock()

    def segment(self, body: bytes) -> dict[str, Any]:
        rgb, sentences = parse_request(body)
        with self._lock:
            masks = self.segmenter.segment(rgb, sentences)  # (N, H, W) bool
        results = []
        for i, (sentence, mask) in enumerate(zip(sentences, masks, strict=True)):
            color = PALETTE[i % len(PALETTE)]
            results.append(
                {
                    "sentence": sentence,
                    "coverage": round(float(mask.mean()) * 100, 2),
                    "overlay": png_data_url(overlay_mask(rgb, mask, color)),
                    "mask": png_data_url(mask),
                }
            )
        return {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "results": results}


def index_html() -> bytes:
    """The page (``lgformer/inference/static/index.html``)."""
    return files("lgformer.inference").joinpath("static/index.html").read_bytes()


def make_handler(service: SegmentationService, *, quiet: bool = False) -> type:
    """A request handler class bound to ``service``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "lgformer"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, index_html(), "text/html; charset=utf-8")
            elif self.path == "/api/health":
                self._send_json(HTTPStatus.OK, {"status": "ok"})
            else:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no page at {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/api/segment":
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint at {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
                return
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the unread body must not be parsed as a request
                message = f"request of {length} bytes is over the {MAX_BODY_BYTES}-byte limit"
                self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": message})
                return
            body = self.rfile.read(length)
            try:
                answer = service.segment(body)
            except RequestError as err:
                self._send_json(err.status, {"error": str(err)})
            except LGFormerError as err:  # unreadable image, unusable sentence
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            else:
                self._send_json(HTTPStatus.OK, answer)

        def _send_json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not quiet:
                super().log_message(format, *args)

    return Handler


def make_server(
    segmenter: ReferringSegmenter, host: str = "127.0.0.1", port: int = 8000, *, quiet: bool = False
) -> ThreadingHTTPServer:
    """An HTTP server (not started; call ``serve_forever``). ``port=0`` picks a free port."""
    handler = make_handler(SegmentationService(segmenter), quiet=quiet)
    return ThreadingHTTPServer((host, port), handler)
