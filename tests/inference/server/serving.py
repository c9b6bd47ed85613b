"""Running ``lgformer serve``'s app in a thread of the test process, and talking to it."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from lgformer.inference.server import ServedModel, ServeLimits, build_app, listen, make_server

TINY_MODEL = ServedModel(name="tiny.safetensors", preset="test_tiny", image_size=64)


@contextlib.contextmanager
def running_server(
    segmenter, limits: ServeLimits | None = None, *, page: bool = False
) -> Iterator[tuple[str, object]]:
    """(base URL, service) of the app on a free 127.0.0.1 port, stopped afterwards."""
    app, service = build_app(segmenter, TINY_MODEL, limits, page=page)
    sock = listen("127.0.0.1", 0)
    server = make_server(
        app, sock, quiet=True, max_connections=(limits or ServeLimits()).max_connections
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", service
    finally:
        server.should_exit = True
        thread.join(30)
        service.close()
        sock.close()


def png_bytes(rgb: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
    (image.convert(mode) if mode else image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_b64(rgb: np.ndarray, mode: str | None = None) -> str:
    return base64.b64encode(png_bytes(rgb, mode)).decode()


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """``method path`` on a fresh connection -> (status, headers, body bytes)."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def post_json(base_url: str, payload: object, headers: dict[str, str] | None = None):
    """POST /api/segment with a JSON (or raw bytes) body -> (status, decoded JSON answer)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    status, _, answer = request(base_url, "POST", "/api/segment", body, all_headers)
    return status, json.loads(answer)


def decode_png(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))
