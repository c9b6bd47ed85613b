"""A local browser page for segmenting your own images (``lgformer serve``).

Standard library only: ``http.server`` serves one HTML page and one JSON endpoint.

``POST /api/segment`` takes ``{"image": <data URL or base64 of an image file>,
"sentences": [str, ...]}`` and answers ``{"width", "height", "results": [{"sentence",
"coverage", "overlay", "mask"}]}`` where ``overlay`` and ``mask`` are PNG data URLs at
the image's own size and ``coverage`` is the mask's share of the image in percent.
Bad input (not JSON, no sentence, an empty or over-long list, an unreadable image, a
body over the size limit, a method the path does not take) answers 4xx with
``{"error": <what to fix>}``; an unexpected failure answers 500 the same way. The server
keeps running. A connection that sends nothing for ``REQUEST_TIMEOUT_SECONDS`` (a body
declared but never sent, say) is answered 408 and closed, so it cannot hold a thread.

Meant for one user on their own machine: it binds 127.0.0.1 by default and runs one
model call at a time.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import socket
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from lgformer.data.image_io import decode_image_bytes
from lgformer.errors import LGFormerError
from lgformer.inference.predictor import ReferringSegmenter
from lgformer.inference.visualize import PALETTE, overlay_mask

MAX_BODY_BYTES = 30 * 2**20  # a 20 MB photo grows by a third in base64
# Bodies over the limit but under this are read and dropped before the 413 answer: a
# client still sending when the server hangs up sees a reset, not the error message.
MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES
DRAIN_IDLE_SECONDS = 1.0
# Longest wait for the next bytes of a request before the connection is dropped.
REQUEST_TIMEOUT_SECONDS = 60.0
MAX_SENTENCES = 16
EXPECTED_BODY = '{"image": <data URL or base64 of an image file>, "sentences": [...]}'


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
    sentences = [s.strip() for s in sentences if s.strip()]
    if not sentences:
        raise RequestError("give at least one referring sentence")
    if len(sentences) > MAX_SENTENCES:
        raise RequestError(f"at most {MAX_SENTENCES} sentences per request, got {len(sentences)}")
    image = payload.get("image")
    if not isinstance(image, str) or not image:
        raise RequestError('"image" must be a data URL or base64 string of an image file')
    encoded = image.split(",", 1)[1] if image.startswith("data:") and "," in image else image
    encoded = "".join(encoded.split())  # MIME base64 (`base64 photo.jpg`) wraps its lines
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


def allowed_methods(path: str) -> str | None:
    """The ``Allow`` header for ``path`` (no query string); ``None`` where nothing is served."""
    if path == "/api/segment":
        return "POST"
    if path in ("/", "/index.html", "/api/health"):
        return "GET, HEAD"
    return None


def make_handler(
    service: SegmentationService,
    *,
    quiet: bool = False,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> type:
    """A request handler class bound to ``service``.

    ``timeout`` (seconds) bounds each wait for a client's bytes: a request line,
    headers or body that stall that long close the connection.
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "lgformer"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, index_html(), "text/html; charset=utf-8")
            elif path == "/api/health":
                self._send_json(HTTPStatus.OK, {"status": "ok"})
            elif path == "/api/segment":
                self._refuse_method()
            else:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no page at {self.path}"})

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()  # ``_send`` leaves the body out

        def do_PUT(self) -> None:  # noqa: N802
            self._refuse_method()

        # Known methods no path takes: 405 with ``Allow``, not http.server's 501 page.
        do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = do_PUT  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/api/segment":
                self._refuse_method()  # 405 on a page, 404 where nothing is served
                return
            if "Transfer-Encoding" in self.headers or "Content-Length" not in self.headers:
                self.close_connection = True  # unread, read by ``finish`` after the answer
                message = (
                    "send the JSON body with a Content-Length header (chunked bodies are "
                    f"not supported): {EXPECTED_BODY}"
                )
                self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": message})
                return
            try:
                length = int(self.headers["Content-Length"])
            except ValueError:
                length = -1
            if length < 0:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
                return
            if length == 0:
                message = f"the request body is empty: send {EXPECTED_BODY}"
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": message})
                return
            if length > MAX_BODY_BYTES:
                self._close_after_body(length)
                message = f"request of {length} bytes is over the {MAX_BODY_BYTES}-byte limit"
                self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": message})
                return
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True
                message = (
                    f"the request body did not arrive: {length} bytes announced, "
                    f"nothing received for {self.timeout:g} s"
                )
                self._send_json(HTTPStatus.REQUEST_TIMEOUT, {"error": message})
                return
            try:
                answer = service.segment(body)
            except RequestError as err:
                self._send_json(err.status, {"error": str(err)})
            except LGFormerError as err:  # unreadable image, unusable sentence
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            except Exception as err:  # a bug or out of memory: answer, log, keep serving
                traceback.print_exc()
                message = f"internal error ({type(err).__name__}: {err}); see the server log"
                self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": message})
            else:
                self._send_json(HTTPStatus.OK, answer)

        def _refuse_method(self) -> None:
            """405 naming the methods this path takes (404 where nothing is served)."""
            self._drop_body()
            path = urlsplit(self.path).path
            allow = allowed_methods(path)
            if allow is None:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no page at {self.path}"})
                return
            message = f"{self.command} is not supported for {path}: use {allow}"
            if path == "/api/segment":
                message += f", with a JSON body {EXPECTED_BODY}"
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": message}, {"Allow": allow})

        def _drop_body(self) -> None:
            """Before answering without reading a request's body: drains a short one and
            closes the connection, so the body is not parsed as the next request."""
            if "Transfer-Encoding" in self.headers:
                self.close_connection = True  # ``finish`` reads the body after the answer
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                self.close_connection = True
                return
            if length > 0:
                self._close_after_body(length)

        def _close_after_body(self, length: int) -> None:
            """For a body of ``length`` bytes that will not be read: closes the connection
            after the answer (the body must not be parsed as the next request), first
            draining a body of up to ``MAX_DRAIN_BYTES`` so the client sees that answer."""
            self.close_connection = True
            if length <= MAX_DRAIN_BYTES:
                self._discard(length)

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """The standard library's own refusals (a malformed request line, an unknown
            method, over-long headers) as JSON like every other answer."""
            short, long = self.responses.get(code, ("Error", ""))
            reason, explain = message or short, explain or long
            self.log_error("code %d, message %s", code, reason)
            self.close_connection = True
            error = f"{reason}: {explain}" if explain else reason
            self._send_json(code, {"error": error}, {"Connection": "close"})

        def _discard(self, length: int) -> None:
            """Reads and drops up to ``length`` bytes of body, in 1 MiB pieces; stops when
            the client pauses (one that waits for the answer before sending the body)."""
            self.connection.settimeout(DRAIN_IDLE_SECONDS)
            try:
                while length > 0:
                    chunk = self.rfile.read(min(length, 2**20))
                    if not chunk:
                        return
                    length -= len(chunk)
            except OSError:  # timed out or reset: answer anyway
                return
            finally:
                self.connection.settimeout(self.timeout)

        def finish(self) -> None:
            """Lingering close: after the last answer, stops sending and reads what the
            client still sends (up to ``MAX_DRAIN_BYTES``, until it hangs up or pauses
            ``DRAIN_IDLE_SECONDS``). Closing with unread bytes, say the rest of an
            over-long header line, would reset the connection and lose the answer."""
            super().finish()
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(DRAIN_IDLE_SECONDS)
                budget = MAX_DRAIN_BYTES
                while budget > 0:
                    data = self.connection.recv(2**16)
                    if not data:
                        break
                    budget -= len(data)
            except OSError:  # already closed by the client, reset or timed out
                pass

        def _send_json(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", headers)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not quiet:
                super().log_message(format, *args)

    Handler.timeout = timeout  # socketserver applies it to each connection's socket
    return Handler


def make_server(
    segmenter: ReferringSegmenter,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    quiet: bool = False,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> ThreadingHTTPServer:
    """An HTTP server (not started; call ``serve_forever``). ``port=0`` picks a free port.

    ``timeout``: seconds a connection may stay silent mid-request (see ``make_handler``).
    Raises ``LGFormerError`` when it cannot listen there (port taken, unknown host).
    """
    handler = make_handler(SegmentationService(segmenter), quiet=quiet, timeout=timeout)
    try:
        return ThreadingHTTPServer((host, port), handler)
    except (OSError, OverflowError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise LGFormerError(
            f"cannot listen on {host}:{port} ({reason}); pick another port "
            "(0 takes any free one) or host"
        ) from err
