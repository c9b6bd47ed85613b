"""The Origin/Host guard on its own."""

from __future__ import annotations

import pytest

from lgformer.inference.server.guard import LocalOriginGuard, host_name


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({b"host": b"127.0.0.1:8000"}, True),
        ({b"host": b"localhost:8000", b"origin": b"http://localhost:8000"}, True),
        ({b"host": b"[::1]:8000", b"origin": b"http://[::1]:8000"}, True),
        ({b"host": b"10.1.2.3:8000"}, True),  # an IP literal cannot be a rebinding
        ({b"host": b"myhost.lan:8000"}, True),  # --allow-host myhost.lan
        ({b"host": b"evil.example:8000"}, False),
        ({b"host": b"127.0.0.1:8000", b"origin": b"http://127.0.0.1:9999"}, False),
        ({b"host": b"127.0.0.1:8000", b"origin": b"null"}, False),
        ({}, False),
    ],
)
def test_the_guard_accepts_only_this_servers_own_requests(headers, allowed):
    guard = LocalOriginGuard(None, allowed_hosts=["MyHost.lan"])
    assert (guard.refusal(headers) is None) == allowed


def test_host_names_drop_the_port():
    assert host_name("Example.org:8000") == "example.org"
    assert host_name("[::1]:80") == "::1"
    assert host_name("::1") == "::1"
