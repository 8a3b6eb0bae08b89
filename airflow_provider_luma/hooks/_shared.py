"""
What the waits on one event loop share: one aiohttp session, each connection's credentials, and
the proxy the environment names for each base URL.

A triggerer runs all its triggers on one event loop. Sharing the connection pool and the
connection lookup among them is what keeps a thousand waits cheap: a triggerer restart hands over
hundreds of waits at once, and each would otherwise open its own connections and ask Airflow for
the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
import weakref
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    import aiohttp

T = TypeVar("T")

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


class SharedLookups(Generic[T]):
    """
    Values looked up by key once per event loop and reused for ``max_age_seconds``.

    Concurrent callers of a key share one lookup; a failed lookup is not kept, so the next caller
    tries again.

    :param max_age_seconds: how long a value is reused before it is looked up again.
    """

    def __init__(self, max_age_seconds: float) -> None:
        self.max_age_seconds = max_age_seconds
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, tuple[asyncio.Future[T], float]]
        ] = weakref.WeakKeyDictionary()

    async def get(self, key: str, look_up: Callable[[], Awaitable[T]]) -> T:
        """
        The value for ``key``: the loop's recent one, or the result of ``look_up()``.

        :param key: what the value is for (e.g. a connection id).
        :param look_up: fetches a fresh value.
        """
        loop = asyncio.get_running_loop()
        entries = self._by_loop.get(loop)
        if entries is None:
            entries = self._by_loop[loop] = {}
        entry = entries.get(key)
        if entry is not None and time.monotonic() - entry[1] <= self.max_age_seconds:
            kept = entry[0]
            if kept.done() and not kept.cancelled() and kept.exception() is None:
                return kept.result()  # the common case: no shield, no await
        else:
            lookup: asyncio.Future[T] = asyncio.ensure_future(look_up())
            # Read the outcome even if every waiter is cancelled: no "exception never retrieved".
            lookup.add_done_callback(lambda done: done.cancelled() or done.exception())
            entry = entries[key] = (lookup, time.monotonic())
        try:
            # Shielded: one waiter's cancellation must not cancel the lookup the others share.
            return await asyncio.shield(entry[0])
        except Exception:
            self.forget(key, loop=loop, only=entry[0])
            raise

    def forget(self, key: str, *, loop: asyncio.AbstractEventLoop | None = None, only: object = None) -> None:
        """
        Drop the value kept for ``key`` so that the next :meth:`get` looks it up again.

        :param key: as given to :meth:`get`.
        :param loop: the loop whose value to drop (default: the running one).
        :param only: drop it only if it is still this lookup (a newer one is kept).
        """
        entries = self._by_loop.get(loop or asyncio.get_running_loop(), {})
        entry = entries.get(key)
        if entry is not None and (only is None or entry[0] is only):
            del entries[key]
