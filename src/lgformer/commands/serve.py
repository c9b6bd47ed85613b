"""``lgformer serve``: a local web page (and JSON API) to segment your own images."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import signal
import threading
from pathlib import Path
from types import FrameType

from lgformer.commands.model_options import add_model_run_options
from lgformer.errors import LGFormerError
from lgformer.inference.predictor import check_image_size

HELP = "Serve a local web page for segmenting images in a browser."
SERVE_MODULES = ("fastapi", "uvicorn", "gradio", "multipart")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="released .pth, training .pt, .safetensors, model folder or .onnx "
        "(default: the bundled model)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 = any free)")
    add_model_run_options(parser)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the page may be opened by besides IP addresses and localhost "
        "(repeat for more)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="sentences per model call across requests (16)"
    )
    parser.add_argument(
        "--max-active", type=int, default=16, help="requests processed at once (16)"
    )
    parser.add_argument(
        "--max-queued", type=int, default=128, help="requests waiting; more get 503 (128)"
    )
    parser.add_argument(
        "--max-megapixels", type=float, default=50.0, help="largest decoded image (50 MP)"
    )
    parser.add_argument("--no-page", action="store_true", help="serve the JSON API only")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Let SIGTERM (``kill``, ``docker stop``, systemd) stop the server as Ctrl+C does.

    Only the main thread may set handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def require_serve_extra() -> None:
    """``LGFormerError`` naming the extra to install when a serving library is missing."""
    missing = [m for m in SERVE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join("python-multipart" if m == "multipart" else m for m in missing)
        raise LGFormerError(
            f"lgformer serve needs {names}: install the serve extra, "
            "pip install 'lgformer[serve]' (or -e '.[serve]' in a clone)"
        )


def limits_from(args: argparse.Namespace):
    from lgformer.inference.server import ServeLimits

    for name in ("batch_size", "max_active"):
        if getattr(args, name) < 1:
            raise LGFormerError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_queued < 0 or args.max_megapixels <= 0:
        raise LGFormerError("--max-queued must be 0 or more and --max-megapixels above 0")
    return ServeLimits(
        batch_size=args.batch_size,
        max_active=args.max_active,
        max_queued=args.max_queued,
        max_megapixels=args.max_megapixels,
    )


def run(args: argparse.Namespace) -> int:
    require_serve_extra()
    from lgformer.commands.progress import load_reporter
    from lgformer.inference import ReferringSegmenter
    from lgformer.inference.server import (
        ServedModel,
        build_app,
        listen,
        make_server,
        warn_if_public,
    )
    from lgformer.model_info import preset_of

    limits = limits_from(args)
    if args.image_size is not None:  # 0 or less is an error, not "the default"
        check_image_size(args.image_size)
    sock = listen(args.host, args.port)  # a taken port fails before the model loads
    try:
        segmenter = ReferringSegmenter.from_checkpoint(
            args.checkpoint,
            device=args.device,
            preset=args.preset,
            image_size=args.image_size,  # None: the model's own
            report=load_reporter(args.checkpoint),
        )
    except BaseException:
        sock.close()
        raise
    bundled = args.checkpoint is None
    model = ServedModel(
        name="bundled synthetic model" if bundled else Path(args.checkpoint).name,
        preset=args.preset or preset_of(segmenter.model.config).removeprefix("preset "),
        image_size=segmenter.image_size,
        bundled=bundled,
        description=segmenter.description,
    )
    host, port = sock.getsockname()[:2]
    app, service = build_app(
        segmenter, model, limits, allowed_hosts=(args.host, *args.allow_host),
        page=not args.no_page,
    )  # fmt: skip
    server = make_server(app, sock, quiet=args.quiet, max_connections=limits.max_connections)
    warn_if_public(args.host)
    stop_on_sigterm()  # uvicorn hands the signal back to this handler once it has stopped
    shown = f"[{host}]" if ":" in host else host
    # The libraries' objects live until exit: kept out of the collector, they cost no
    # collection pauses while serving and no seconds of collection after "stopped".
    gc.freeze()
    try:  # the URL line is inside: a signal right after it still stops cleanly
        print(
            f"lgformer: {segmenter.description}; open http://{shown}:{port}/ (Ctrl+C stops)",
            flush=True,
        )
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
        sock.close()
    print("stopped", flush=True)
    return 0
