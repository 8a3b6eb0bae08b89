"""
The outermost ASGI layer: counts every request by route and injects the configured faults, for
both APIs (Dream Machine under ``/dream-machine/v1``, Agents under ``/agents/v1``), the assets
and the Agents uploads alike.

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


class _Answer:
    """Records the status of one request in the stats, once, when its answer starts."""

    def __init__(self, core: EmulatorCore, method: str, path: str) -> None:
        self.core, self.method, self.path = core, method, path
        self.status: int | None = None

    def record(self, status: int) -> None:
        if self.status is None:
            self.status = status
            self.core.stats.answered(self.method, self.path, status)


class _Passthrough:
    """An ASGI ``send`` that forwards everything, recording the status first."""

    def __init__(self, send: Send, answer: _Answer) -> None:
        self.send = send
        self.answer = answer

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.answer.record(int(message["status"]))
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

    async def replay(self, send: Send) -> None:
        if self.start is not None:
            await send(self.start)
            await send({"type": "http.response.body", "body": b"".join(self.body)})


def _seconds_text(seconds: float) -> str:
    """``Retry-After`` seconds: an integer when whole (the standard form), else a decimal."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


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


def _with_asset_urls(body: bytes, url: str) -> bytes:
    """
    Return the JSON answer ``body`` with every asset URL of its generation(s) replaced by ``url``
    (a Dream Machine generation's ``assets``, an Agents generation's ``output[*].url``).
    """
    try:
        data = json.loads(body)
    except ValueError:
        return body
    generations = data.get("generations", [data]) if isinstance(data, dict) else []
    for generation in generations:
        if not isinstance(generation, dict):
            continue
        assets = generation.get("assets")
        if isinstance(assets, dict):
            assets.update({name: url for name, value in assets.items() if value})
        outputs = generation.get("output")
        for output in outputs if isinstance(outputs, list) else []:
            if isinstance(output, dict) and output.get("url"):
                output["url"] = url
    return json.dumps(data, separators=(",", ":")).encode()


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
        self.core.stats.count(route_key)
        answer = _Answer(self.core, method, relative or path)
        try:
            if rule is None:
                await self.app(scope, receive, _Passthrough(send, answer))
            else:
                self.core.stats.fault(rule.kind)
                await self._inject(rule, scope, receive, send, answer)
        finally:
            answer.record(0)  # no answer was started: the connection was dropped

    async def _inject(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send, answer: _Answer
    ) -> None:
        """Answer the request with the rule's fault."""
        kind = rule.kind
        if kind == "reset":
            answer.record(0)
            await drop_connection(send, receive)
            return
        passing = _Passthrough(send, answer)
        if kind == "502":
            await _send_simple(passing, 502, _GATEWAY_PAGE, b"text/html", [])
            return
        if kind in _ERROR_DETAIL:
            extra = [(b"retry-after", _seconds_text(rule.retry_after).encode())] if kind == "429" else []
            body = json.dumps({"detail": _ERROR_DETAIL[kind]}).encode()
            await _send_simple(passing, int(kind[:3]), body, b"application/json", extra)
            return
        if kind == "asset_redirect":
            await _send_simple(passing, 302, b"", b"text/plain", [(b"location", rule.url.encode())])
            return
        if kind == "traffic":
            self.core.add_traffic(rule.count)
            await self.app(scope, receive, passing)
            return
        if kind == "slow" and scope["method"] != "POST":
            await asyncio.sleep(rule.delay)
            await self.app(scope, receive, passing)
            return
        buffer = _Buffer()
        await self.app(scope, receive, buffer)
        if kind == "reset_after_create":
            answer.record(0)
            await drop_connection(send, receive)
        elif kind == "slow":
            await asyncio.sleep(rule.delay)
            await buffer.replay(passing)
        elif kind == "asset_url":
            status = int(buffer.start["status"]) if buffer.start is not None else 500
            body = _with_asset_urls(b"".join(buffer.body), rule.url)
            await _send_simple(passing, status, body, b"application/json", [])
        else:  # malformed_json
            await _send_simple(passing, 200, _broken_json(b"".join(buffer.body)), b"application/json", [])
