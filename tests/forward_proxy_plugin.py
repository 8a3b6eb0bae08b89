"""
A proxy.py plugin for ``tests/test_proxy.py``, loaded by the proxy process (not by pytest).

It makes the proxy the only way to Luma: the host :data:`PROXY_ONLY_HOST` resolves nowhere but here
(to loopback, where the emulator listens), so a call that does not go through the proxy cannot
connect at all. It also writes every request it forwards (keep-alive ones included) to the file
named by ``LUMA_TEST_PROXY_LOG``, one ``METHOD host:port/path`` line each.
"""

from __future__ import annotations

import os
from typing import Any

from proxy.http.proxy import HttpProxyBasePlugin

#: A name no resolver knows (``.test`` is reserved for testing).
PROXY_ONLY_HOST = "luma-behind-the-proxy.test"


class ProxyOnlyLuma(HttpProxyBasePlugin):
    """Resolves :data:`PROXY_ONLY_HOST` to loopback and logs each forwarded request."""

    def resolve_dns(self, host: str, port: int) -> tuple[str | None, Any]:
        return ("127.0.0.1" if host == PROXY_ONLY_HOST else None), None

    def handle_client_request(self, request: Any) -> Any:
        line = f"{request.method.decode()} {request.host.decode()}:{request.port}{request.path.decode()}\n"
        with open(os.environ["LUMA_TEST_PROXY_LOG"], "a") as log:
            log.write(line)
        return request
