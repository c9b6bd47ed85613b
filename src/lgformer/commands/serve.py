"""``lgformer serve``: a local web page to segment your own images in the browser."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

HELP = "Serve a local web page for segmenting images in a browser."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="released .pth, training .pt, .safetensors or model folder "
        "(default: the bundled model)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 = any free)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="model input size (default: the size the model was trained at; 480 for a "
        "released .pth)",
    )
    parser.add_argument("--preset", default=None, help="force a config preset (rarely needed)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Let SIGTERM (``kill``, ``docker stop``, systemd) stop the server as Ctrl+C does.

    Only the main thread may set handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def run(args: argparse.Namespace) -> int:
    from lgformer.commands.progress import load_reporter
    from lgformer.inference import ReferringSegmenter
    from lgformer.inference.web import make_server

    segmenter = ReferringSegmenter.from_checkpoint(
        args.checkpoint,
        device=args.device,
        preset=args.preset,
        image_size=args.image_size,  # None: the model's own; 0 or less is an error
        report=load_reporter(args.checkpoint),
    )
    server = make_server(segmenter, args.host, args.port, quiet=args.quiet)
    host, port = server.server_address[:2]
    stop_on_sigterm()
    try:  # the URL line is inside: a signal right after it still stops cleanly
        print(
            f"lgformer: {segmenter.description}; open http://{host}:{port}/ (Ctrl+C stops)",
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
