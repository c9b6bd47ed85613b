"""The JSON API: ``POST /api/segment`` (JSON or multipart) and ``GET /api/health``.

``POST /api/segment`` takes either a JSON body ``{"image": <data URL or base64 of an
image file>, "sentences": [str, ...]}`` or a multipart form with an ``image`` file and
one ``sentence`` field per sentence (``curl -F image=@photo.jpg -F sentence="the dog"``).
It answers ``{"width", "height", "results": [{"sentence", "coverage", "overlay", "mask",
"warnings"}]}``: ``overlay`` and ``mask`` are PNG data URLs at the image's own size,
``coverage`` the mask's share of the image in percent, ``warnings`` what the tokenizer
said about the sentence (unknown words, truncation).

Refusals answer ``{"error": <what to fix>}``: 400 for a malformed request, 403 for a
foreign ``Origin`` or ``Host`` (see ``guard``), 404/405 for a wrong path or method, 408
when the body does not arrive within the timeout, 413 for an image file or a decoded
image over the limits, 503 when the queue is full; an unexpected failure answers 500
and is logged. A client that disconnects costs a log line at most, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import AsyncIterator

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from lgformer.errors import LGFormerError
from lgformer.inference.server.limits import ServedModel
from lgformer.inference.server.parsing import (
    EXPECTED_BODY,
    EXPECTED_FORM,
    RequestError,
    parse_json_body,
    too_large,
)
from lgformer.inference.server.service import Segmentation, SegmentationService
from lgformer.inference.visualize import overlay_mask

log = logging.getLogger("uvicorn.error")  # configured by uvicorn: stderr
ALLOW = {"/api/segment": "POST", "/api/health": "GET, HEAD"}


def png_data_url(array: np.ndarray) -> str:
    """(H, W, 3) uint8 or (H, W) bool -> ``data:image/png;base64,...``."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def encode_answer(segmentation: Segmentation) -> dict:
    """The JSON answer (PNG encoding: run it in the worker pool)."""
    rgb = segmentation.rgb
    results = [
        {
            "sentence": r.sentence,
            "coverage": r.coverage,
            "overlay": png_data_url(overlay_mask(rgb, r.mask)),
            "mask": png_data_url(r.mask),
            "warnings": r.warnings,
        }
        for r in segmentation.results
    ]
    return {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "results": results}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def capped_stream(
    request: Request, limit: int, on_over: RequestError
) -> AsyncIterator[bytes]:
    """The request body in pieces; ``on_over`` once more than ``limit`` bytes arrived."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise on_over
        yield chunk


async def read_request(request: Request, service: SegmentationService) -> tuple[bytes, list[str]]:
    """(image file bytes, sentences) from a JSON or multipart body, within the limits."""
    limits = service.limits
    declared = request.headers.get("content-length")
    is_form = request.headers.get("content-type", "").startswith("multipart/form-data")
    limit = limits.max_image_bytes + 2**20 if is_form else limits.max_body_bytes
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limits, int(declared) if is_form else int(declared) * 3 // 4)
    stream = capped_stream(request, limit, too_large(limits))
    if is_form:
        return await read_form(request, stream, service)
    body = bytearray()
    async for chunk in stream:
        body += chunk
    return await service.in_pool(parse_json_body, bytes(body), limits)


async def read_form(
    request: Request, stream: AsyncIterator[bytes], service: SegmentationService
) -> tuple[bytes, list[str]]:
    """(image file bytes, sentences) from a multipart body."""
    parser = MultiPartParser(
        request.headers, stream, max_files=1, max_fields=service.limits.max_sentences + 4,
        max_part_size=service.limits.max_sentence_chars * 4 + 1024,
    )  # fmt: skip
    try:
        form = await parser.parse()
    except MultiPartException as err:
        raise RequestError(f"cannot read the form ({err}): send {EXPECTED_FORM}") from err
    try:
        image = form.get("image")
        if image is None or isinstance(image, str):
            raise RequestError(f"the form has no image file: send {EXPECTED_FORM}")
        data = await image.read()
        sentences = [v for k, v in form.multi_items() if k in ("sentence", "sentences")]
        if not all(isinstance(s, str) for s in sentences):
            raise RequestError(f"sentences must be text fields: send {EXPECTED_FORM}")
        return data, sentences
    finally:
        await form.close()


def add_api_routes(app: FastAPI, service: SegmentationService, model: ServedModel) -> None:
    """``/api/segment`` and ``/api/health`` on ``app``, with JSON error answers."""
    limits = service.limits

    @app.api_route("/api/health", methods=["GET", "HEAD"])
    async def health() -> dict:
        return {
            "status": "ok",
            "model": model.name,
            "preset": model.preset,
            "image_size": model.image_size,
        }

    @app.post("/api/segment")
    async def segment(request: Request) -> Response:
        try:
            async with service.admission.slot():
                try:
                    data, sentences = await asyncio.wait_for(
                        read_request(request, service), limits.body_timeout_s
                    )
                except asyncio.TimeoutError:
                    raise RequestError(
                        f"the request body did not arrive within {limits.body_timeout_s:g} s",
                        408,
                    ) from None
                segmentation = await service.segment(data, sentences)
                return JSONResponse(await service.in_pool(encode_answer, segmentation))
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening
        except RequestError as err:
            headers = {"Retry-After": "2"} if err.status == 503 else None
            return error(err.status, str(err), headers)
        except LGFormerError as err:  # unreadable image, unusable sentence
            return error(400, str(err))
        except Exception as err:  # a bug or out of memory: answer, log, keep serving
            log.error("internal error on /api/segment", exc_info=err)
            return error(500, f"internal error ({type(err).__name__}: {err}); see the server log")

    other = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "POST"]

    @app.api_route("/api/segment", methods=[m for m in other if m != "POST"])
    @app.api_route("/api/health", methods=["PUT", "DELETE", "PATCH", "OPTIONS", "POST"])
    async def wrong_method(request: Request) -> Response:
        path = request.url.path
        message = f"{request.method} is not supported for {path}: use {ALLOW[path]}"
        if path == "/api/segment":
            message += f", with a JSON body {EXPECTED_BODY} or {EXPECTED_FORM}"
        return error(405, message, {"Allow": ALLOW[path]})

    @app.api_route("/api/{rest:path}", methods=other)
    async def no_such_endpoint(request: Request) -> Response:
        return error(404, f"no page at {request.url.path}: the API has /api/segment, /api/health")
