"""``lgformer serve``'s JSON API: answers, the multipart form, errors, health, the command."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from lgformer.errors import LGFormerError
from lgformer.inference import ReferringSegmenter
from lgformer.inference.server import ServeLimits, listen
from tests.inference.server.serving import (
    decode_png,
    png_b64,
    png_bytes,
    post_json,
    request,
    running_server,
)

LIMITS = ServeLimits()


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cpu", image_size=64)


@pytest.fixture(scope="module")
def base_url(segmenter):
    with running_server(segmenter) as (url, _):
        yield url


def _rgb(seed: int, shape=(30, 45, 3)) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def test_segment_returns_the_same_masks_as_python(base_url, segmenter):
    rgb = _rgb(0)
    sentences = ["[unused1]", "[unused5] [unused7]"]
    status, answer = post_json(
        base_url, {"image": "data:image/png;base64," + png_b64(rgb), "sentences": sentences}
    )
    assert status == 200, answer
    assert (answer["width"], answer["height"]) == (45, 30)
    expected = segmenter.segment(rgb, sentences)
    assert [r["sentence"] for r in answer["results"]] == sentences
    for result, mask in zip(answer["results"], expected, strict=True):
        np.testing.assert_array_equal(decode_png(result["mask"]) > 0, mask)
        assert result["coverage"] == pytest.approx(mask.mean() * 100, abs=0.01)
        assert decode_png(result["overlay"]).shape == (30, 45, 3)
        assert result["warnings"] == []


def _multipart(fields: list[tuple[str, str | bytes]]) -> tuple[bytes, str]:
    boundary = "lgformer-test-boundary"
    parts = []
    for name, value in fields:
        if isinstance(value, bytes):
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="photo.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            )
            parts.append(f"--{boundary}\r\n{head}".encode() + value + b"\r\n")
        else:
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
            parts.append(f"--{boundary}\r\n{head}{value}\r\n".encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_the_multipart_form_gives_the_json_answer(base_url, segmenter):
    """``curl -F image=@photo.png -F sentence=... -F sentence=...``"""
    rgb = _rgb(3)
    body, content_type = _multipart(
        [("image", png_bytes(rgb)), ("sentence", "[unused1]"), ("sentence", "[unused2]")]
    )
    status, _, raw = request(base_url, "POST", "/api/segment", body, {"Content-Type": content_type})
    answer = json.loads(raw)
    assert status == 200, answer
    expected = segmenter.segment(rgb, ["[unused1]", "[unused2]"])
    for result, mask in zip(answer["results"], expected, strict=True):
        np.testing.assert_array_equal(decode_png(result["mask"]) > 0, mask)
    body, content_type = _multipart([("sentence", "[unused1]")])
    status, _, raw = request(base_url, "POST", "/api/segment", body, {"Content-Type": content_type})
    assert status == 400 and "no image file" in json.loads(raw)["error"]


def test_the_tokenizer_warnings_come_with_their_sentence(base_url):
    sentences = ["[unused1]", "🙂 🙂", " ".join(["[unused3]"] * 30)]
    status, answer = post_json(base_url, {"image": png_b64(_rgb(4)), "sentences": sentences})
    assert status == 200, answer
    notes = [r["warnings"] for r in answer["results"]]
    assert notes[0] == []
    assert len(notes[1]) == 1 and "[UNK]" in notes[1][0]
    assert len(notes[2]) == 1 and "truncated" in notes[2][0]


def test_plain_base64_grayscale_and_line_wrapped_images_work(base_url):
    import base64

    status, answer = post_json(base_url, {"image": png_b64(_rgb(1), "L"), "sentences": "x"})
    assert status == 200 and len(answer["results"]) == 1, answer
    wrapped = base64.encodebytes(png_bytes(_rgb(2, (40, 40, 3)))).decode()  # `base64 photo`
    assert "\n" in wrapped
    for image in (wrapped, "data:image/png;base64," + wrapped):
        assert post_json(base_url, {"image": image, "sentences": ["x"]})[0] == 200


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "body is empty"),
        (b"not json", "not JSON"),
        ([1, 2], "JSON object"),
        ({"image": "aGVsbG8=", "sentences": ["  ", ""]}, "at least one"),
        ({"image": "aGVsbG8=", "sentences": [3]}, "list of strings"),
        ({"image": "aGVsbG8=", "sentences": ["x"] * (LIMITS.max_sentences + 1)}, "at most"),
        ({"sentences": ["[unused1]"]}, '"image"'),
        ({"image": "***", "sentences": ["[unused1]"]}, "base64"),
        ({"image": "aGVsbG8=", "sentences": ["[unused1]"]}, "cannot read uploaded image"),
        ({"image": png_b64(np.zeros((8, 8, 3), np.uint8)), "sentences": ["\u200b"]}, "empty"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\x89PNG\r\n\x1a\n", '"sentences"'),  # an image file posted as is
    ],
)
def test_bad_requests_get_400_and_a_reason(base_url, payload, message):
    status, answer = post_json(base_url, payload)
    assert status == 400
    assert message in answer["error"]


def test_health_names_the_model(base_url):
    status, _, body = request(base_url, "GET", "/api/health")
    assert status == 200
    assert json.loads(body) == {
        "status": "ok",
        "model": "tiny.safetensors",
        "preset": "test_tiny",
        "image_size": 64,
    }
    status, headers, body = request(base_url, "HEAD", "/api/health")
    assert status == 200 and body == b""


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_methods_get_405_with_allow(base_url, method):
    status, headers, body = request(base_url, method, "/api/segment", b"{}")
    assert status == 405 and headers["Allow"] == "POST"
    assert f"{method} is not supported for /api/segment: use POST" in json.loads(body)["error"]
    if method != "GET":
        status, headers, body = request(base_url, method, "/api/health", b"{}")
        assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_unknown_api_paths_are_404(base_url):
    status, _, body = request(base_url, "GET", "/api/nope")
    assert status == 404 and "no page at /api/nope" in json.loads(body)["error"]


class _FailingSegmenter(ReferringSegmenter):
    """Stands in for a model that fails unexpectedly (out of memory, a bug)."""

    def forward(self, inputs):
        raise RuntimeError("CUDA out of memory")


def test_an_unexpected_failure_answers_500_and_is_logged(segmenter, capfd):
    failing = _FailingSegmenter(segmenter.model, image_size=64, device="cpu")
    payload = {"image": png_b64(np.zeros((8, 8, 3), np.uint8)), "sentences": ["x"]}
    with running_server(failing) as (url, _):
        for _ in range(2):  # and the server keeps going
            status, answer = post_json(url, payload)
            assert status == 500
            assert "CUDA out of memory" in answer["error"]
    assert "RuntimeError: CUDA out of memory" in capfd.readouterr().err  # the traceback


def test_a_taken_port_is_a_clear_error():
    first = listen("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(LGFormerError, match=f"cannot listen on 127.0.0.1:{port}"):
            listen("127.0.0.1", port)
    finally:
        first.close()


def test_serve_command_is_registered(capsys):
    from lgformer.cli import main

    with pytest.raises(SystemExit) as err:
        main(["serve", "--help"])
    assert err.value.code == 0
    out = capsys.readouterr().out
    assert "--checkpoint" in out and "--port" in out and "--allow-host" in out


def test_serve_without_the_extra_names_it(monkeypatch, capsys):
    import importlib.util

    from lgformer.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a)
    )
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "gradio" in err and "pip install 'lgformer[serve]'" in err


def test_binding_a_public_address_warns(capsys):
    from lgformer.inference.server import warn_if_public

    warn_if_public("127.0.0.1")
    warn_if_public("localhost")
    assert capsys.readouterr().err == ""
    warn_if_public("0.0.0.0")
    assert "warning: serving on 0.0.0.0, reachable from other machines" in capsys.readouterr().err


def _start_serve(*extra: str):
    """`lgformer serve --port 0 --quiet` in a subprocess -> (process, base URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lgformer.cli", "serve", "--port", "0", "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl+C as in a terminal, even when pytest runs as a background job (which
        # inherits SIGINT ignored, and would pass that on to the server).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    line = proc.stdout.readline()
    match = re.search(r"open (http://\S+/)", line)
    if not match:
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    return proc, match.group(1).rstrip("/")


def _stop(proc, signum) -> tuple[str, str]:
    """Send ``signum``; the server must exit 0 within 30 s. Returns its stdout, stderr."""
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err
    return out, err


def _wait_until_up(url: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while True:
        try:
            if request(url, "GET", "/api/health", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not answer"
        time.sleep(0.1)


def test_serve_command_with_the_bundled_model():
    """`lgformer serve --port 0` as a user runs it: prints its URL, serves the page and
    the API, stops on SIGTERM (kill, docker stop, systemd)."""
    from lgformer.data.synthetic import render_scene

    proc, url = _start_serve()
    try:
        _wait_until_up(url)
        status, headers, page = request(url, "GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b"gradio" in page.lower()
        health = json.loads(request(url, "GET", "/api/health")[2])
        assert health["model"] == "bundled synthetic model" and health["image_size"] == 128
        rgb, _, expressions = render_scene(seed=1)
        status, answer = post_json(url, {"image": png_b64(rgb), "sentences": [expressions[0][0]]})
        assert status == 200, answer
        assert (answer["width"], answer["height"]) == (rgb.shape[1], rgb.shape[0])
    finally:
        out, err = _stop(proc, signal.SIGTERM)
    assert "stopped" in out
    assert "Traceback" not in err


def test_serve_command_stops_on_ctrl_c_and_clients_that_vanish_leave_no_traceback():
    import socket
    from urllib.parse import urlsplit

    proc, url = _start_serve("--no-page")
    try:
        _wait_until_up(url)
        address = urlsplit(url)
        body = json.dumps({"image": png_b64(_rgb(5)), "sentences": ["x"]}).encode()
        for sent in (body[:100], body):  # mid-body, and while the answer is computed
            with socket.create_connection((address.hostname, address.port)) as sock:
                head = f"POST /api/segment HTTP/1.1\r\nHost: {address.netloc}\r\n"
                head += f"Content-Length: {len(body)}\r\n\r\n"
                sock.sendall(head.encode() + sent)
        _wait_until_up(url)
        assert post_json(url, json.loads(body))[0] == 200
    finally:
        out, err = _stop(proc, signal.SIGINT)
    assert "stopped" in out
    assert "Traceback" not in err and "Exception" not in err, err
