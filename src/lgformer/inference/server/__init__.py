"""``lgformer serve``: FastAPI + uvicorn, the JSON API and a Gradio page, bounded under load.

Needs the ``serve`` extra (``pip install 'lgformer[serve]'``). ``build_app`` assembles
the ASGI app; ``listen`` and ``make_server`` run it.
"""

from lgformer.inference.server.app import build_app, listen, make_server, warn_if_public
from lgformer.inference.server.limits import ServedModel, ServeLimits

__all__ = ["ServedModel", "ServeLimits", "build_app", "listen", "make_server", "warn_if_public"]
