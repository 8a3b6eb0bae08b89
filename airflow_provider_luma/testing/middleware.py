"""
The outermost ASGI layer: counts every request by route and injects the configured faults.

It must be the app uvicorn calls directly (not inside Starlette's middleware stack), because
dropping a connection needs uvicorn's own ``send`` (see :mod:`.transport`). Admin requests
(``/_emulator/...``) pass through uncounted and never faulted.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.testing.routes import ADMIN_PREFIX, relative_path, template_of
from airflow_provider_luma.testing.transport import drop_connection

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from airflow_provider_luma.testing.config import FaultRule
    from airflow_provider_luma.testing.core import EmulatorCore

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
_ERROR_DETAIL = {
    "429": "Too Many Requests",
    "429_no_retry_after": "Too Many Requests",
    "500": "Internal Server Error",
    "503": "Service Unavailable",
}


async def _send_simple(send: Send, status: int, body: bytes, content_type: bytes, extra: list[Any]) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Passthrough:
    """An ASGI ``send`` that forwards everything and remembers the status."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self.send(message)


class _Buffer:
    """An ASGI ``send`` that keeps the response instead of sending it."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start else 0

    async def replay(self, send: Send) -> None:
        if self.start is not None:
            await send(self.start)
            await send({"type": "http.response.body", "body": b"".join(self.body)})


def _broken_json(body: bytes) -> bytes:
    """Return a body that is certainly not valid JSON (the first half of the real one)."""
    cut = body[: len(body) // 2]
    if not cut.strip():
        cut = b'{"detail": '
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return cut + b"\x00{"


class EmulatorMiddleware:
    """
    Wraps the web app with request counting and fault injection.

    :param app: the Starlette app.
    :param core: the emulator's state.
    """

    def __init__(self, app: ASGIApp, core: EmulatorCore) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        relative = relative_path(path)
        template = template_of(relative) if relative is not None else None
        route_key = f"{method} {template}" if template else f"{method} <unmatched>"
        rule = self.core.faults.pick(method, relative or path, template or "")
        status = 0
        try:
            if rule is None:
                passing = _Passthrough(send)
                try:
                    await self.app(scope, receive, passing)
                finally:
                    status = passing.status
            else:
                self.core.stats.fault(rule.kind)
                status = await self._inject(rule, scope, receive, send)
        finally:
            self.core.stats.request(route_key, method, relative or path, status)

    async def _inject(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer the request with the rule's fault; return the status sent (0 if none)."""
        kind = rule.kind
        if kind == "reset":
            await drop_connection(send, receive)
            return 0
        if kind == "502":
            await _send_simple(send, 502, _GATEWAY_PAGE, b"text/html", [])
            return 502
        if kind in _ERROR_DETAIL:
            status = int(kind[:3])
            extra = [(b"retry-after", f"{rule.retry_after:g}".encode())] if kind == "429" else []
            body = json.dumps({"detail": _ERROR_DETAIL[kind]}).encode()
            await _send_simple(send, status, body, b"application/json", extra)
            return status
        if kind == "slow" and scope["method"] != "POST":
            await asyncio.sleep(rule.delay)
            passing = _Passthrough(send)
            await self.app(scope, receive, passing)
            return passing.status
        buffer = _Buffer()
        await self.app(scope, receive, buffer)
        if kind == "reset_after_create":
            await drop_connection(send, receive)
            return 0
        if kind == "slow":
            await asyncio.sleep(rule.delay)
            await buffer.replay(send)
            return buffer.status
        # malformed_json
        await _send_simple(send, 200, _broken_json(b"".join(buffer.body)), b"application/json", [])
        return 200
