"""
Dropping a client's TCP connection from inside an ASGI app, with no HTTP answer at all.

ASGI has no message for "hang up". Under uvicorn (h11 or httptools protocol) the ``send``
callable handed to the outermost app is a bound method of the request-response cycle, which
holds the connection's asyncio transport: :func:`drop_connection` sets ``SO_LINGER`` to 0 on its
socket (so closing sends a TCP RST, as a crashed proxy would) and aborts it. It then waits for
uvicorn to see the disconnect, so uvicorn does not try to answer 500 on a dead connection.
Clients see a connection error: ``requests.ConnectionError``, aiohttp's
``ServerDisconnectedError``/``ClientOSError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any


def _transport_of(send: Any) -> Any:
    owner = getattr(send, "__self__", None)
    transport = getattr(owner, "transport", None)
    return transport if hasattr(transport, "abort") else None


def can_drop(send: Any) -> bool:
    """
    Tell whether :func:`drop_connection` works with this ``send`` callable.

    :param send: the ASGI ``send`` given by the server.
    """
    return _transport_of(send) is not None


async def drop_connection(send: Any, receive: Any, timeout: float = 2.0) -> None:
    """
    Reset the client's connection without answering.

    :param send: the ASGI ``send`` given by uvicorn to the outermost app (not a wrapper).
    :param receive: the ASGI ``receive`` of the same request.
    :param timeout: how long to wait for the server to notice the disconnect.
    """
    transport = _transport_of(send)
    if transport is None:
        raise RuntimeError("cannot drop the connection: this ASGI server does not expose its transport")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()

    async def until_disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(until_disconnected(), timeout)
