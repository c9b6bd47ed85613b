"""``lgformer serve``: the page, the JSON endpoint, and its answers to bad requests."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from lgformer.inference import ReferringSegmenter
from lgformer.inference.web import MAX_BODY_BYTES, MAX_SENTENCES, make_server


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cpu", image_size=64)


@pytest.fixture(scope="module")
def base_url(segmenter):
    server = make_server(segmenter, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


def _png_b64(rgb: np.ndarray, mode: str | None = None) -> str:
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
    (image.convert(mode) if mode else image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _post(base_url: str, payload: object) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(
        base_url + "/api/segment", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _decode_png(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_page_is_served(base_url):
    with urllib.request.urlopen(base_url + "/", timeout=30) as response:
        page = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/api/segment" in page and 'type="file"' in page


def test_segment_returns_the_same_masks_as_python(base_url, segmenter):
    rgb = (np.random.default_rng(0).random((30, 45, 3)) * 255).astype(np.uint8)
    sentences = ["[unused1]", "[unused5] [unused7]"]
    status, answer = _post(
        base_url, {"image": "data:image/png;base64," + _png_b64(rgb), "sentences": sentences}
    )
    assert status == 200, answer
    assert (answer["width"], answer["height"]) == (45, 30)
    expected = segmenter.segment(rgb, sentences)
    assert [r["sentence"] for r in answer["results"]] == sentences
    for result, mask in zip(answer["results"], expected, strict=True):
        got = _decode_png(result["mask"]) > 0
        np.testing.assert_array_equal(got, mask)
        assert result["coverage"] == pytest.approx(mask.mean() * 100, abs=0.01)
        assert _decode_png(result["overlay"]).shape == (30, 45, 3)


def test_plain_base64_and_grayscale_images_work(base_url):
    rgb = (np.random.default_rng(1).random((20, 20, 3)) * 255).astype(np.uint8)
    status, answer = _post(base_url, {"image": _png_b64(rgb, "L"), "sentences": "[unused1]"})
    assert status == 200, answer
    assert len(answer["results"]) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        ([1, 2], "JSON object"),
        ({"image": "aGVsbG8=", "sentences": ["  ", ""]}, "at least one"),
        ({"image": "aGVsbG8=", "sentences": [3]}, "list of strings"),
        ({"image": "aGVsbG8=", "sentences": ["x"] * (MAX_SENTENCES + 1)}, "at most"),
        ({"sentences": ["[unused1]"]}, '"image"'),
        ({"image": "***", "sentences": ["[unused1]"]}, "base64"),
        ({"image": "aGVsbG8=", "sentences": ["[unused1]"]}, "cannot read uploaded image"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\x89PNG\r\n\x1a\n", '"sentences"'),  # an image file posted as is
    ],
)
def test_bad_requests_get_400_and_a_reason(base_url, payload, message):
    status, answer = _post(base_url, payload)
    assert status == 400
    assert message in answer["error"]


def test_oversized_body_is_refused_and_the_server_keeps_going(base_url):
    request = urllib.request.Request(
        base_url + "/api/segment", data=b"x", headers={"Content-Length": str(MAX_BODY_BYTES + 1)}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 413
    with urllib.request.urlopen(base_url + "/api/health", timeout=30) as response:
        assert json.loads(response.read()) == {"status": "ok"}


def test_unknown_paths_are_404(base_url):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base_url + "/nope", timeout=30)
    assert err.value.code == 404


def test_serve_command_is_registered(capsys):
    from lgformer.cli import main

    with pytest.raises(SystemExit) as err:
        main(["serve", "--help"])
    assert err.value.code == 0
    out = capsys.readouterr().out
    assert "--checkpoint" in out and "--port" in out


def _start_serve():
    """`lgformer serve --port 0 --quiet` in a subprocess -> (process, base URL)."""
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "lgformer.cli", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"open (http://\S+/)", line)
    if not match:
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    return proc, match.group(1).rstrip("/")


def _stop(proc, signum) -> str:
    """Send ``signum``; the server must exit 0 within 30 s. Returns the rest of its stdout."""
    import subprocess

    proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0
    return out


def test_serve_command_with_the_bundled_model():
    """`lgformer serve --port 0` as a user runs it: prints its URL, answers, stops on SIGTERM
    (kill, docker stop, systemd)."""
    import signal

    from lgformer.data.synthetic import render_scene

    proc, url = _start_serve()
    try:
        rgb, _, expressions = render_scene(seed=1)
        status, answer = _post(url, {"image": _png_b64(rgb), "sentences": [expressions[0][0]]})
        assert status == 200, answer
        assert (answer["width"], answer["height"]) == (rgb.shape[1], rgb.shape[0])
    finally:
        out = _stop(proc, signal.SIGTERM)
    assert "stopped" in out


def test_serve_command_stops_on_ctrl_c():
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A shell's background job inherits SIGINT ignored, and so would the server.
        pytest.skip("SIGINT is ignored in this process (started as a background job)")
    proc, _ = _start_serve()
    assert "stopped" in _stop(proc, signal.SIGINT)


def test_line_wrapped_base64_works(base_url):
    """`base64 photo.jpg` and Python's ``base64.encodebytes`` wrap lines every 76 characters."""
    rgb = (np.random.default_rng(2).random((40, 40, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    wrapped = base64.encodebytes(buffer.getvalue()).decode()
    assert "\n" in wrapped
    for image in (wrapped, "data:image/png;base64," + wrapped):
        status, answer = _post(base_url, {"image": image, "sentences": ["[unused1]"]})
        assert status == 200, answer


def test_a_really_sent_oversized_body_gets_the_413_answer(base_url):
    """A client (the page, urllib, requests) sends the whole body before reading the
    answer: it must get the JSON error, not a reset connection."""
    status, answer = _post(base_url, b"x" * (MAX_BODY_BYTES + 2**20))
    assert status == 413
    assert "limit" in answer["error"]


def test_get_on_the_endpoint_says_to_post(base_url):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base_url + "/api/segment", timeout=30)
    assert err.value.code == 405 and err.value.headers["Allow"] == "POST"
    assert "use POST" in json.loads(err.value.read())["error"]
    with urllib.request.urlopen(base_url + "/?from=bookmark", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/html")


class _FailingSegmenter:
    """Stands in for a model that fails unexpectedly (out of memory, a bug)."""

    def segment(self, image, sentences):
        raise RuntimeError("CUDA out of memory")


def test_an_unexpected_failure_answers_500_and_the_server_keeps_going(capsys):
    server = make_server(_FailingSegmenter(), "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "http://{}:{}".format(*server.server_address[:2])
    try:
        payload = {"image": _png_b64(np.zeros((8, 8, 3), np.uint8)), "sentences": ["x"]}
        for _ in range(2):
            status, answer = _post(url, payload)
            assert status == 500
            assert "CUDA out of memory" in answer["error"]
    finally:
        server.shutdown()
        server.server_close()
    assert "RuntimeError" in capsys.readouterr().err  # the traceback is in the server log


def test_a_taken_port_is_a_clear_error(segmenter):
    from lgformer.errors import LGFormerError

    first = make_server(segmenter, "127.0.0.1", 0, quiet=True)
    try:
        port = first.server_address[1]
        with pytest.raises(LGFormerError, match=f"cannot listen on 127.0.0.1:{port}"):
            make_server(segmenter, "127.0.0.1", port, quiet=True)
    finally:
        first.server_close()


def test_page_names_each_mask_download_like_the_cli():
    """Two masks must not both download as mask.png."""
    import re
    import shutil
    import subprocess

    from lgformer.inference.visualize import slug
    from lgformer.inference.web import index_html

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    page = index_html().decode()
    function = re.search(r"function maskFileName\(.*?\n}\n", page, flags=re.S)
    assert function, "the page has no maskFileName function"
    sentences = ["the dog", "the dog", "  Ünïcode / café! ", "???", "x" * 80]
    script = function.group(0) + (
        f"console.log(JSON.stringify({json.dumps(sentences)}.map((s, i) => maskFileName(i, s))))"
    )
    names = json.loads(subprocess.run([node, "-e", script], capture_output=True, check=True).stdout)
    assert names == [f"{i:02d}_{slug(s)}_mask.png" for i, s in enumerate(sentences)]
    assert 'download = "mask.png"' not in page
