"""``lgformer serve``: the page, the JSON endpoint, and its answers to bad requests."""

from __future__ import annotations

import base64
import io
import json
import signal
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


def _request(base_url: str, method: str, path: str, body: bytes | None = None):
    """``method path`` on a fresh connection -> (status, headers, body bytes)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_json_with_allow(base_url, method):
    for path, allow in [("/api/segment", "POST"), ("/", "GET, HEAD"), ("/api/health", "GET, HEAD")]:
        body = b'{"sentences": ["x"]}' if method in ("PUT", "PATCH") else None
        status, headers, answer = _request(base_url, method, path, body)
        assert status == 405, (method, path)
        assert headers["Allow"] == allow
        assert headers["Content-Type"] == "application/json"
        assert f"{method} is not supported for {path}: use {allow}" in json.loads(answer)["error"]
    status, _, answer = _request(base_url, method, "/nope")
    assert status == 404 and "no page at /nope" in json.loads(answer)["error"]


def test_head_answers_like_get_without_a_body(base_url):
    status, headers, body = _request(base_url, "HEAD", "/")
    assert status == 200 and body == b""
    assert headers["Content-Type"].startswith("text/html") and int(headers["Content-Length"]) > 0
    status, headers, body = _request(base_url, "HEAD", "/api/segment")
    assert status == 405 and headers["Allow"] == "POST" and body == b""


def _raw_exchange(base_url: str, request: bytes, wait: float = 10.0) -> bytes:
    """Sends ``request`` as is and reads until the server closes (``wait`` s at most)."""
    import socket
    import time
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=wait) as sock:
        sock.sendall(request)
        received, deadline = b"", time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return received
            received += chunk
    raise AssertionError(f"the server kept the connection open; got {received[:200]!r}")


def test_unknown_methods_and_malformed_requests_answer_json(base_url):
    """http.server's own refusals come as JSON too, not as its HTML error page."""
    answer = _raw_exchange(base_url, b"FROB / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 501") and b"Content-Type: application/json" in head
    assert "Unsupported method ('FROB')" in json.loads(body)["error"]
    long_header = b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"
    head, _, body = _raw_exchange(base_url, long_header).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431") and "Line too long" in json.loads(body)["error"]


def test_a_huge_header_line_gets_its_431_while_the_client_is_still_sending(base_url):
    """The server stops parsing at 64 KiB of header line, answers, then reads the rest of
    the 16 MiB before closing: closing on unread bytes would reset the connection."""
    huge = b"GET / HTTP/1.1\r\nX-Long: " + b"a" * (16 * 2**20) + b"\r\n\r\n"
    head, _, body = _raw_exchange(base_url, huge).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431") and "Line too long" in json.loads(body)["error"]
    assert _request(base_url, "GET", "/api/health")[0] == 200


def test_a_refused_method_with_a_large_body_still_gets_its_answer(base_url):
    """The body is drained before the answer: a client still sending it would otherwise
    see a reset connection instead of the 405."""
    for method, path in [("PUT", "/api/segment"), ("POST", "/elsewhere")]:
        status, _, answer = _request(base_url, method, path, b"x" * (4 * 2**20))
        assert status == (405 if method == "PUT" else 404)
        assert "error" in json.loads(answer)


def test_a_body_that_never_arrives_times_out_with_408(segmenter):
    from lgformer.inference.web import REQUEST_TIMEOUT_SECONDS

    assert REQUEST_TIMEOUT_SECONDS == 60
    server = make_server(segmenter, "127.0.0.1", 0, quiet=True, timeout=0.5)
    assert server.RequestHandlerClass.timeout == 0.5
    assert make_server(segmenter, "127.0.0.1", 0, quiet=True).RequestHandlerClass.timeout == 60
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "http://{}:{}".format(*server.server_address[:2])
    try:
        stalled = b"POST /api/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        answer = _raw_exchange(url, stalled, wait=10)  # the server must hang up
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 408")
        assert "1000 bytes announced, nothing received for 0.5 s" in json.loads(body)["error"]
        assert _raw_exchange(url, b"GET / HTTP/1.1\r\n", wait=10) == b""  # stalled headers
        with urllib.request.urlopen(url + "/api/health", timeout=30) as response:
            assert json.loads(response.read()) == {"status": "ok"}
    finally:
        server.shutdown()
        server.server_close()


def test_post_to_a_page_gets_405_with_allow(base_url):
    """The README: a method a path does not take gets 405 with an Allow header."""
    for path in ("/", "/index.html", "/api/health"):
        status, headers, answer = _request(base_url, "POST", path, b"{}")
        assert status == 405, path
        assert headers["Allow"] == "GET, HEAD"
        assert f"POST is not supported for {path}: use GET, HEAD" in json.loads(answer)["error"]


def _slowly(pieces: list[bytes]):
    """Yields ``pieces`` with a short pause between them, like a client on a slow link."""
    import time

    for piece in pieces:
        time.sleep(0.002)
        yield piece


def test_a_body_without_content_length_gets_411_and_the_server_keeps_going(base_url):
    """The server reads the rest of the chunked body after its answer, before closing: a
    client still sending when the socket closes would get a broken pipe or a reset."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    body = json.dumps({"image": _png_b64(np.zeros((8, 8, 3), np.uint8)), "sentences": ["x"]})
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = body.encode()
    pieces = [data[i : i + 64] for i in range(0, len(data), 64)]  # many chunks: still sending
    try:  # chunked: http.client sends an iterable body with Transfer-Encoding: chunked
        connection.request(
            "POST", "/api/segment", body=_slowly(pieces), encode_chunked=True,
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )  # fmt: skip
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 411
    assert "Content-Length header (chunked bodies are not supported)" in answer["error"]
    status, _, answer = _request(base_url, "POST", "/api/segment")  # Content-Length: 0
    assert status == 400 and "the request body is empty: send {" in json.loads(answer)["error"]
    status, answer = _post(base_url, json.loads(body))
    assert status == 200 and len(answer["results"]) == 1


def test_a_chunked_body_on_a_refused_method_still_gets_its_405(base_url):
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(
            "PUT", "/api/segment", body=_slowly([b"x" * 64] * 100), encode_chunked=True,
            headers={"Transfer-Encoding": "chunked"},
        )  # fmt: skip
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 405 and "PUT is not supported" in answer["error"]
    assert _request(base_url, "GET", "/api/health")[0] == 200


PAGE_HARNESS = """
const elements = {};
function element(tag) {
  return {tag, children: [], className: "", textContent: "",
    append(...c) { this.children.push(...c); },
    replaceChildren(...c) { this.children = c; },
    addEventListener(type, fn) { this.listener = fn; }};
}
for (const id of ["form", "status", "results", "image", "sentences"]) elements[id] = element(id);
elements.image.files = [{}];
globalThis.document = {getElementById: (id) => elements[id], createElement: element};
globalThis.FileReader = class {
  readAsDataURL() { this.result = "data:image/png;base64,AA=="; setTimeout(() => this.onload()); }
};
const answers = [];  // one per fetch, resolved by the script below in any order
globalThis.fetch = () => new Promise((resolve) => answers.push(resolve));
function reply(i, sentence) {
  const body = {width: 4, height: 4, results: [{sentence, coverage: 1, overlay: "o", mask: "m"}]};
  answers[i]({ok: true, statusText: "OK", json: async () => body});
}
const tick = () => new Promise((r) => setTimeout(r, 5));
"""


def test_page_shows_only_the_latest_press_when_answers_arrive_out_of_order():
    """Pressing Segment twice: the first answer, arriving last, must not join the second's."""
    import re
    import shutil
    import subprocess

    from lgformer.inference.web import index_html

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    page_script = re.search(r"<script>(.*)</script>", index_html().decode(), flags=re.S)
    script = (
        PAGE_HARNESS
        + page_script.group(1)
        + """
(async () => {
  const submit = () => elements.form.listener({preventDefault() {}});
  elements.sentences.value = "first";
  submit();
  await tick();
  elements.sentences.value = "second";
  submit();
  await tick();
  reply(1, "second");
  await tick();
  reply(0, "first");
  await tick();
  const shown = elements.results.children.map((f) => f.children[0].alt);
  console.log(JSON.stringify({shown, status: elements.status.textContent}));
})();
"""
    )
    proc = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"shown": ["second"], "status": "4x4, 1 mask(s)"}
