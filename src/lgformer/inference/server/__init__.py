"""``lgformer serve``: FastAPI + uvicorn, the JSON API and a Gradio page, bounded under load.

Needs the ``serve`` extra (``pip install 'lgformer[serve]'``). ``build_app`` assembles
the ASGI app; ``listen`` and ``make_server`` run it. The request and answer formats and
the status codes are in ``api``; the bounds (``ServeLimits``) in ``limits``; the pipeline
(worker pool, micro-batching) in ``service``; the Origin/Host checks in ``guard``.
"""

from lgformer.inference.server.app import build_app, listen, make_server, warn_if_public
from lgformer.inference.server.limits import ServedModel, ServeLimits

__all__ = ["ServedModel", "ServeLimits", "build_app", "listen", "make_server", "warn_if_public"]
