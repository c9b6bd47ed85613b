"""Assembling and running the server: FastAPI + the Gradio page, under uvicorn."""

from __future__ import annotations

import ipaddress
import socket
import sys

from lgformer.errors import LGFormerError
from lgformer.inference.predictor import ReferringSegmenter
from lgformer.inference.server.limits import ServedModel, ServeLimits

BACKLOG = 2048  # pending connections the kernel queues before the server accepts them


def build_app(
    segmenter: ReferringSegmenter,
    model: ServedModel,
    limits: ServeLimits | None = None,
    *,
    allowed_hosts: tuple[str, ...] = (),
    page: bool = True,
):
    """The ASGI app: the JSON API, the Gradio page at ``/`` (unless ``page=False``), all
    behind ``LocalOriginGuard``. Returns (app, service); ``service.close()`` when done."""
    from fastapi import FastAPI

    from lgformer.inference.server.api import add_api_routes
    from lgformer.inference.server.guard import LocalOriginGuard
    from lgformer.inference.server.service import SegmentationService

    limits = limits or ServeLimits()
    service = SegmentationService(segmenter, limits)
    app = FastAPI(title="lgformer serve", docs_url=None, redoc_url=None, openapi_url=None)
    add_api_routes(app, service, model)
    if page:
        import gradio as gr

        from lgformer.inference.server.page import Downloads, build_page, offline_theme

        downloads = Downloads()
        blocks = build_page(service, model, downloads)
        blocks.queue(default_concurrency_limit=limits.max_active)
        app = gr.mount_gradio_app(
            app,
            blocks,
            path="",
            footer_links=[],
            ssr_mode=False,
            max_file_size=limits.max_image_bytes,
            theme=offline_theme(),
            show_error=True,
        )
        closing = service.close

        def close() -> None:
            closing()
            downloads.close()

        service.close = close
    return LocalOriginGuard(app, allowed_hosts), service


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening socket on ``host:port`` (``port=0``: any free one); ``LGFormerError``
    naming the address when that fails (port taken, unknown host)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
    except (OSError, OverflowError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise LGFormerError(
            f"cannot listen on {host}:{port} ({reason}); pick another port "
            "(0 takes any free one) or host"
        ) from err
    sock.set_inheritable(True)
    return sock


def warn_if_public(host: str) -> None:
    if not is_loopback(host):
        print(
            f"warning: serving on {host}, reachable from other machines: anyone who can "
            "reach it can upload images and use this machine's CPU/GPU; "
            "bind 127.0.0.1 (the default) unless that is what you want",
            file=sys.stderr,
            flush=True,
        )


def make_server(
    app, sock: socket.socket, *, quiet: bool = False, max_connections: int | None = None
):
    """A ``uvicorn.Server`` for ``app`` on ``sock`` (call ``server.run(sockets=[sock])``).

    ``max_connections`` (default ``ServeLimits().max_connections``): past that many open
    connections a request is answered 503 at once, so clients holding connections open
    (slow headers, idle keep-alive) cannot exhaust the server's file descriptors.
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        limit_concurrency=max_connections or ServeLimits().max_connections,
        backlog=BACKLOG,
        access_log=not quiet,
        log_level="warning" if quiet else "info",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
        lifespan="on",
        http="h11",
    )
    return uvicorn.Server(config)
