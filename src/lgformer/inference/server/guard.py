"""Refuses requests from other web sites and DNS-rebinding attacks (an ASGI middleware).

Any page open in the user's browser can send requests to 127.0.0.1. Two checks keep
such pages out:

- ``Origin``: a browser names the page a request comes from; one that is not this
  server's own address (``Origin`` host:port equal to the ``Host`` header) is refused.
- ``Host``: a page on ``evil.example`` whose DNS name is rebound to 127.0.0.1 sends
  ``Host: evil.example``; only IP literals, ``localhost`` and the names given as
  ``allowed_hosts`` (the bound host, ``--allow-host``) are accepted.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

LOCAL_NAMES = frozenset({"localhost"})


def host_name(host: str) -> str:
    """``"Example.org:8000"`` -> ``"example.org"``; ``"[::1]:80"`` -> ``"::1"``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class LocalOriginGuard:
    """Wraps an ASGI app; answers 403 with ``{"error": ...}`` to foreign requests."""

    def __init__(self, app, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = LOCAL_NAMES | {host_name(h) for h in allowed_hosts}

    def refusal(self, headers: dict[bytes, bytes]) -> str | None:
        """Why a request with these headers is refused; ``None`` if it is not."""
        host = headers.get(b"host", b"").decode("latin-1")
        name = host_name(host)
        if not host:
            return "refused: the request has no Host header"
        if not (is_ip_literal(name) or name in self.allowed):
            return (
                f"refused: Host {host!r} is not this server's address (protection against "
                "DNS rebinding); open the page by IP address or localhost, or start the "
                f"server with --allow-host {name}"
            )
        origin = headers.get(b"origin")
        if origin is not None:
            origin_text = origin.decode("latin-1")
            if urlsplit(origin_text).netloc.lower() != host.lower():
                return (
                    f"refused: a request from another site (Origin {origin_text!r}); "
                    "only this server's own page may call it"
                )
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.refusal(dict(scope["headers"]))
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
