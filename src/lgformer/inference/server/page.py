"""The browser page: a Gradio app on the same FastAPI server, working with no network.

Gradio's analytics are switched off (``GRADIO_ANALYTICS_ENABLED`` and
``analytics_enabled=False``) and the theme uses Gradio's bundled fonts and the
system's, so the page loads nothing from outside the server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from lgformer.bundled import SCENE_SIZE  # noqa: E402
from lgformer.data.synthetic.attributes import COLOURS, SHAPES  # noqa: E402
from lgformer.errors import LGFormerError  # noqa: E402
from lgformer.inference.server.limits import ServedModel  # noqa: E402
from lgformer.inference.server.service import Segmentation, SegmentationService  # noqa: E402
from lgformer.inference.visualize import (  # noqa: E402
    BACKGROUND_LIGHT,
    contrasting_color,
    edge,
    overlay_mask,
    slug,
)

DISPLAY_PIXELS = 2_000_000  # the annotated image is shown at most this large
DOWNLOADS_KEPT_S = 3600.0
EXAMPLE_SENTENCES = "the big green triangle\nthe leftmost circle\nthe square right of the star"
MASK_FILL, MASK_EDGE = 0.55, 1.0  # the annotation's opacity inside the mask and on its edge


def model_line(model: ServedModel) -> str:
    """The page's line about the loaded model (and what the bundled one understands)."""
    preset = ""
    if model.preset:  # a preset's name, or a custom config's description
        custom = model.preset.startswith("custom")
        preset = f", {model.preset}" if custom else f", preset {model.preset}"
    line = f"**Model:** {model.name}{preset}, {model.image_size} px input."
    if model.bundled:
        line += (
            f" It was trained only on synthetic {SCENE_SIZE} px scenes of coloured shapes on "
            f"a grey background: it understands sentences about {_listing(SHAPES, 's')} in "
            f"{_listing(COLOURS)}, small or large, by position (the leftmost, the one to the "
            "right of the circle) and order (the second square from the top). On photographs "
            "its masks mean nothing; load a released checkpoint with `--checkpoint` for those."
        )
    return line


def _listing(words, plural: str = "") -> str:
    words = [w + plural for w in words]
    return ", ".join(words[:-1]) + " or " + words[-1]


def display_scale(shape: tuple[int, ...]) -> float:
    height, width = shape[:2]
    return min(1.0, (DISPLAY_PIXELS / (height * width)) ** 0.5)


def _resized(array: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return array
    height, width = array.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if array.dtype == bool:
        return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.NEAREST))
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BILINEAR))


def annotations(segmentation: Segmentation) -> tuple[tuple, dict[str, str]]:
    """(AnnotatedImage value, colour map): the image dimmed outside every mask and one
    annotation per sentence, filled and outlined in a colour contrasting with its pixels."""
    scale = display_scale(segmentation.rgb.shape)
    rgb = _resized(segmentation.rgb, scale)
    union = np.zeros(rgb.shape[:2], dtype=bool)
    layers, colors, used = [], {}, []
    for i, result in enumerate(segmentation.results):
        mask = _resized(result.mask, scale)
        union |= mask
        label = f"{i + 1}. {result.sentence}"
        alpha = np.where(mask, MASK_FILL, 0.0)
        alpha[edge(mask)] = MASK_EDGE
        layers.append((alpha, label))
        color = contrasting_color(rgb, mask, taken=used)
        used.append(color)
        colors[label] = "#{:02x}{:02x}{:02x}".format(*color)
    base = (rgb.astype(np.float32) * BACKGROUND_LIGHT).astype(np.uint8)
    base[union] = rgb[union]
    return (base, layers), colors


def sentence_table(segmentation: Segmentation) -> str:
    """Markdown: each sentence with its mask's coverage and the tokenizer's warnings."""
    rows = ["| # | sentence | mask | tokenizer |", "|---|---|---|---|"]
    for i, r in enumerate(segmentation.results):
        note = "; ".join(r.warnings) or "ok"
        cells = [str(i + 1), r.sentence, f"{r.coverage:.2f}% of the image", note]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


class Downloads:
    """Per-request folders of mask and overlay PNGs, removed after ``DOWNLOADS_KEPT_S``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lgformer-serve-"))

    def write(self, segmentation: Segmentation) -> list[str]:
        self._prune()
        folder = Path(tempfile.mkdtemp(dir=self.root))
        paths = []
        for i, r in enumerate(segmentation.results):
            stem = folder / f"{i:02d}_{slug(r.sentence)}"
            Image.fromarray(r.mask.astype(np.uint8) * 255).save(f"{stem}_mask.png")
            Image.fromarray(overlay_mask(segmentation.rgb, r.mask)).save(f"{stem}_overlay.png")
            paths += [f"{stem}_mask.png", f"{stem}_overlay.png"]
        return paths

    def _prune(self) -> None:
        cutoff = time.time() - DOWNLOADS_KEPT_S
        for folder in self.root.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def offline_theme() -> gr.themes.Base:
    """Gradio's default look with its bundled fonts and system ones, none from a CDN."""
    return gr.themes.Default(
        font=[gr.themes.LocalFont("Source Sans Pro"), "ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=[gr.themes.LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"],
    )


def build_page(service: SegmentationService, model: ServedModel, downloads: Downloads) -> gr.Blocks:
    """The Gradio Blocks of the page; mount it with ``gr.mount_gradio_app``."""

    async def run(image_path: str | None, text: str, progress=gr.Progress()):  # noqa: B008
        if not image_path:
            raise gr.Error("choose an image first")
        sentences = [line for line in (text or "").splitlines() if line.strip()]
        progress(0.05, desc="waiting for a free slot")
        try:
            data = await service.in_pool(Path(image_path).read_bytes)
            async with service.admission.slot():
                progress(0.2, desc="segmenting")
                segmentation = await service.segment(data, sentences)
                progress(0.7, desc="drawing the masks")
                value, colors = await service.in_pool(annotations, segmentation)
                files = await service.in_pool(downloads.write, segmentation)
        except LGFormerError as err:  # RequestError too: too large, busy, bad sentence
            raise gr.Error(str(err)) from None
        height, width = segmentation.rgb.shape[:2]
        summary = f"{width}x{height} image, {len(segmentation.results)} mask(s)\n\n"
        table = summary + sentence_table(segmentation)
        return gr.AnnotatedImage(value=value, color_map=colors), files, table

    with gr.Blocks(title="LGFormer", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown("## LGFormer: segment what a sentence refers to")
        gr.Markdown(model_line(model), elem_id="model-line")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="filepath", label="image", elem_id="image", height=360)
                text = gr.Textbox(
                    label="one referring expression per line",
                    lines=4,
                    placeholder=EXAMPLE_SENTENCES,
                    elem_id="sentences",
                )
                button = gr.Button("Segment", variant="primary", elem_id="segment")
            with gr.Column():
                result = gr.AnnotatedImage(label="masks (hover a label)", format="png")
                table = gr.Markdown(elem_id="sentence-table")
                files = gr.File(
                    label="downloads: masks and overlays",
                    file_count="multiple",
                    elem_id="downloads",
                )
        button.click(
            run,
            [image, text],
            [result, files, table],
            concurrency_limit=service.limits.max_active + service.limits.max_queued,
        )
    return page
