"""The page in a real browser: Debian's Chromium driven by Playwright.

Uploads an image, enters two sentences, waits for the result and checks the masks
offered for download against the JSON API's answer for the same input. Every request
the page makes must go to the server itself (the page works with no network). Skips
only when no Chromium is installed, and fails instead when ``LGFORMER_REQUIRE_BROWSER``
is set (CI installs Chromium and sets it). ``LGFORMER_SCREENSHOT`` names where to save
the screenshot (default: the test's temporary folder).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from lgformer.inference import ReferringSegmenter
from tests.inference.server.serving import decode_png, png_b64, post_json, running_server

CHROMIUM = "/usr/bin/chromium"
SENTENCES = ["[unused1] [unused2]", "🙂 🙂"]  # the second has no known word: a warning


def _chromium() -> str:
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path is None:
        if os.environ.get("LGFORMER_REQUIRE_BROWSER"):
            pytest.fail("no Chromium found; install it: apt-get install -y chromium")
        pytest.skip("no Chromium installed (apt-get install -y chromium)")
    return path


def test_the_page_segments_an_upload_like_the_api(tiny_checkpoint, tmp_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    segmenter = ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cpu", image_size=64)
    rgb = (np.random.default_rng(7).random((48, 64, 3)) * 255).astype(np.uint8)
    image_path = tmp_path / "upload.png"
    Image.fromarray(rgb).save(image_path)
    screenshot = Path(os.environ.get("LGFORMER_SCREENSHOT", tmp_path / "page.png"))
    with running_server(segmenter, page=True) as (url, _), sync_playwright() as playwright:
        status, api = post_json(url, {"image": png_b64(rgb), "sentences": SENTENCES})
        assert status == 200, api
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            hosts = set()
            page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
            page.goto(url + "/")
            assert "tiny.safetensors" in page.locator("#model-line").inner_text()
            page.set_input_files("#image input[type=file]", str(image_path))
            page.locator("#image img").first.wait_for(timeout=30_000)  # the preview
            page.fill("#sentences textarea", "\n".join(SENTENCES))
            page.click("#segment")
            links = page.locator("#downloads a[download]")
            links.nth(3).wait_for(timeout=60_000)  # a mask and an overlay per sentence
            table = page.locator("#sentence-table").inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
            names = [links.nth(i).get_attribute("download") for i in range(4)]
            hrefs = [links.nth(i).get_attribute("href") for i in range(4)]
            masks = [
                np.asarray(Image.open(io.BytesIO(page.request.get(href).body()))) > 0
                for name, href in zip(names, hrefs, strict=True)
                if name.endswith("_mask.png")
            ]
        finally:
            browser.close()
    assert names[0].startswith("00_unused1_unused2") and names[2].startswith("01_sentence")
    assert len(masks) == 2
    for mask, result in zip(masks, api["results"], strict=True):
        np.testing.assert_array_equal(mask, decode_png(result["mask"]) > 0)
    assert "[UNK]" in table  # the tokenizer's warning, next to its sentence
    assert hosts == {urlsplit(url).netloc}, f"the page reached out to {hosts}"
    assert screenshot.stat().st_size > 10_000
