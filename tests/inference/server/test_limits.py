"""``lgformer serve`` under hostile or heavy use: every bound the server promises."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pytest

from lgformer.inference import ReferringSegmenter
from lgformer.inference.server import ServeLimits
from tests.inference.server.serving import decode_png, png_b64, post_json, request, running_server


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cpu", image_size=64)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + (chunk(b"IEND", b""))
    )


def test_an_image_of_too_many_pixels_is_refused_from_its_header(segmenter, monkeypatch):
    """A 1.2 MB PNG can hold 20000x20000 pixels (1.2 GB decoded): refused before decoding."""
    import base64

    import lgformer.inference.server.parsing as parsing

    def no_decoding(data, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(parsing, "decode_image_bytes", no_decoding)
    image = base64.b64encode(_png_header_only(20000, 20000)).decode()
    with running_server(segmenter) as (url, _):
        status, answer = post_json(url, {"image": image, "sentences": ["x"]})
    assert status == 413
    assert answer["error"] == (
        "the image is too large: 20000x20000 pixels (400 MP), at most 50 megapixels; "
        "downscale it first"
    )


def test_an_image_file_too_large_says_so_in_megabytes(segmenter):
    """Refused from Content-Length before the body is read, and a client that sends it all
    before reading gets the answer, not a reset; the server keeps going."""
    limits = ServeLimits(max_image_bytes=2**20)
    with running_server(segmenter, limits) as (url, _):
        body = b'{"sentences": ["x"], "image": "' + b"A" * (64 * 2**20) + b'"}'
        status, answer = post_json(url, body)  # sent whole before the answer is read
        assert status == 413
        assert answer["error"].startswith("the image is too large: at most a 1 MB image file")
        assert "bytes" not in answer["error"]
        assert request(url, "GET", "/api/health")[0] == 200


def test_a_long_sentence_is_refused_before_tokenisation(segmenter, monkeypatch):
    calls = []
    encode = segmenter.tokenizer.encode
    monkeypatch.setattr(segmenter.tokenizer, "encode", lambda s, **k: calls.append(s) or encode(s))
    image = png_b64(np.zeros((8, 8, 3), np.uint8))
    with running_server(segmenter) as (url, _):
        started = time.monotonic()
        status, answer = post_json(url, {"image": image, "sentences": ["x" * 2**20] * 16})
        assert time.monotonic() - started < 10
        assert status == 400
        assert "sentence 1 is 1048576 characters long: at most 1000" in answer["error"]
        assert calls == []
        assert post_json(url, {"image": image, "sentences": ["y" * 1000]})[0] == 200
    assert calls == ["y" * 1000]


class _GatedSegmenter(ReferringSegmenter):
    """Its model calls wait until ``gate`` is set."""

    gate: threading.Event

    def forward(self, inputs):
        assert self.gate.wait(60)
        return super().forward(inputs)


def test_a_full_queue_answers_503_at_once(segmenter):
    gated = _GatedSegmenter(segmenter.model, image_size=64, device="cpu")
    gated.gate = threading.Event()
    payload = {"image": png_b64(np.zeros((8, 8, 3), np.uint8)), "sentences": ["x"]}
    with running_server(gated, ServeLimits(max_active=1, max_queued=1)) as (url, service):
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(post_json, url, payload) for _ in range(2)]
            deadline = time.monotonic() + 30
            while service.admission.inside < 2:  # one running, one waiting
                assert time.monotonic() < deadline
                time.sleep(0.01)
            started = time.monotonic()
            status, answer = post_json(url, payload)
            assert time.monotonic() - started < 5
            assert status == 503
            assert "the server is busy (1 requests running, 1 waiting)" in answer["error"]
            gated.gate.set()
            assert [f.result()[0] for f in held] == [200, 200]
        assert post_json(url, payload)[0] == 200


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Origin": "http://evil.example"}, "another site"),
        ({"Origin": "http://127.0.0.1:1"}, "another site"),  # another local server's page
        ({"Origin": "null"}, "another site"),
        ({"Host": "evil.example:8000"}, "DNS rebinding"),
        ({"Host": "evil.example", "Origin": "http://evil.example"}, "DNS rebinding"),
    ],
)
def test_foreign_origins_and_hosts_are_refused(segmenter, headers, refused):
    payload = {"image": png_b64(np.zeros((8, 8, 3), np.uint8)), "sentences": ["x"]}
    with running_server(segmenter) as (url, _):
        status, answer = post_json(url, payload, headers)
        assert status == 403 and refused in answer["error"]
        own = {"Origin": url, "Host": urlsplit(url).netloc}
        assert post_json(url, payload, own)[0] == 200
        local = {"Host": f"localhost:{urlsplit(url).port}"}
        assert post_json(url, payload, local)[0] == 200


def test_a_body_that_never_arrives_gets_408(segmenter):
    with running_server(segmenter, ServeLimits(body_timeout_s=0.5)) as (url, _):
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
            head = b"POST /api/segment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
            sock.sendall(head + b"\r\n{")
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"did not arrive within 0.5 s" in answer
        assert request(url, "GET", "/api/health")[0] == 200


def test_64_simultaneous_connections_are_all_answered_and_batched(segmenter):
    """The listen backlog and the queue take 64 clients at once; concurrent requests share
    model calls, and each still gets its own masks."""
    images = [
        (np.random.default_rng(i).random((24, 32, 3)) * 255).astype(np.uint8) for i in range(8)
    ]
    barrier = threading.Barrier(64)

    def client(i: int):
        payload = json.dumps({"image": png_b64(images[i % 8]), "sentences": ["[unused1]"]})
        barrier.wait()
        return post_json(url, payload.encode())

    with running_server(segmenter) as (url, service):
        with ThreadPoolExecutor(64) as pool:
            answers = list(pool.map(client, range(64)))
        batches = list(service.batcher.batch_sizes)
    assert [status for status, _ in answers] == [200] * 64
    assert max(batches) > 1 and sum(batches) == 64
    for i in range(8):
        expected = segmenter.segment(images[i], ["[unused1]"])[0]
        for _, answer in answers[i::8]:
            got = decode_png(answer["results"][0]["mask"]) > 0
            assert (got != expected).mean() < 0.01  # batched float sums may flip edge pixels


def test_connections_past_the_cap_get_503_at_once(segmenter):
    """Clients that open connections and send nothing (or headers slowly) cannot hold an
    unbounded number of sockets: past ``max_connections`` the server answers 503."""
    with running_server(segmenter, ServeLimits(max_connections=4)) as (url, _):
        address = urlsplit(url)
        idle = [socket.create_connection((address.hostname, address.port)) for _ in range(4)]
        try:
            time.sleep(0.3)  # accepted by the server
            status, _, _ = request(url, "GET", "/api/health")
            assert status == 503
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        assert request(url, "GET", "/api/health")[0] == 200
