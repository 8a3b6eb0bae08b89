"""
What the waits on one event loop share: one aiohttp session, and the proxy the environment names
for each base URL.

A triggerer runs all its triggers on one event loop. Sharing the connection pool among them is what
keeps a thousand waits cheap: a triggerer restart hands over hundreds of waits at once, and each
would otherwise open its own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

#: The variables a proxy is read from, as requests reads them on the worker.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def env_proxy(base_url: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """
    The proxy (and its credentials) that ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` name for
    ``base_url``, or ``(None, None)``: what ``trust_env=True`` would find, looked up once per base
    URL and environment instead of in a thread on every request (and without ``trust_env``'s other
    effect, a ``~/.netrc`` password sent to the API host, which would clash with the API key).

    :param base_url: the connection's base URL.
    """
    names = [name for variable in PROXY_VARIABLES for name in (variable, variable.upper())]
    return _env_proxy(base_url, tuple(os.environ.get(name) for name in names))


@functools.lru_cache(maxsize=64)
def _env_proxy(
    base_url: str, environment: tuple[str | None, ...]
) -> tuple[str | None, aiohttp.BasicAuth | None]:
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        proxy, auth = get_env_proxy_for_url(URL(base_url))
    except LookupError:  # none named, or NO_PROXY covers the host
        return None, None
    return str(proxy), auth


class SharedSessions:
    """One aiohttp session per event loop, closed when its last user leaves."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The running loop's session, for the time of the ``async with`` block."""
        import aiohttp

        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None or entry[0].closed:
            # No cookie jar: the session serves every connection (API key) of the process, and
            # nothing of one may be sent on behalf of another.
            session = aiohttp.ClientSession(raise_for_status=False, cookie_jar=aiohttp.DummyCookieJar())
            entry = (session, [0])
            self._by_loop[loop] = entry
        session, users = entry
        users[0] += 1
        try:
            yield session
        finally:
            users[0] -= 1
            if users[0] == 0:
                if self._by_loop.get(loop) is entry:
                    del self._by_loop[loop]
                await session.close()
