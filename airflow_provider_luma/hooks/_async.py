"""
The hook's non-blocking transport, for triggers: aiohttp, sharing what the waits of one event loop can.

A triggerer runs all its triggers on one event loop. The waits on it share one aiohttp session
(connection pool) and each connection's credentials, kept for a minute: a triggerer restart hands
over hundreds of waits at once, and each would otherwise open its own connections and ask Airflow
for the same connection at every poll. That shared state lives here, and only here.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying

from airflow_provider_luma.exceptions import LumaAuthenticationError, LumaError, LumaTransportError
from airflow_provider_luma.hooks._credentials import LumaCredentials
from airflow_provider_luma.hooks._http import (
    ambiguous_create_error,
    parse_response,
    retry_policy,
    transport_error,
)
from airflow_provider_luma.hooks._shared import SharedSessions, env_proxy

if TYPE_CHECKING:
    import contextlib

    import aiohttp
    from airflow.sdk.types import Logger

    from airflow_provider_luma.hooks._http import TransportSettings

_shared_sessions = SharedSessions()
#: How long a connection's credentials serve every wait: a rotated key reaches running waits within
#: a minute (sooner after a 401, see :meth:`AsyncTransport.call`).
CREDENTIALS_MAX_AGE_SECONDS = 60.0
#: Per event loop (as before, so a new loop looks up afresh): connection id -> its credentials and
#: when they were looked up (``time.monotonic()``).
_credentials_by_loop: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[LumaCredentials, float]]
] = weakref.WeakKeyDictionary()


def _shared_credentials() -> dict[str, tuple[LumaCredentials, float]]:
    """The running loop's credentials kept by connection id."""
    return _credentials_by_loop.setdefault(asyncio.get_running_loop(), {})


def shared_session() -> contextlib.AbstractAsyncContextManager[aiohttp.ClientSession]:
    """
    The aiohttp session shared by every wait on the running event loop.

    Use as ``async with shared_session() as session``; the session is closed when the last wait
    using it leaves, on success, error or cancellation.
    """
    return _shared_sessions.use()


class AsyncTransport:
    """
    Sends API calls without blocking the event loop, retrying what Luma's rules allow.

    :param settings: timeouts, retries and the connection id.
    :param hook_class: the hook type, for Airflow's async connection lookup.
    :param log: where retries are logged.
    """

    def __init__(self, settings: TransportSettings, hook_class: type, log: Logger) -> None:
        self.settings = settings
        self.hook_class = hook_class
        self.log = log

    async def credentials(self) -> LumaCredentials:
        """The connection's base URL and key, as looked up at most a minute ago."""
        kept_by_conn = _shared_credentials()
        kept = kept_by_conn.get(self.settings.conn_id)
        if kept is not None and time.monotonic() - kept[1] <= CREDENTIALS_MAX_AGE_SECONDS:
            return kept[0]
        fresh = await self._look_up_credentials()
        kept_by_conn[self.settings.conn_id] = (fresh, time.monotonic())
        return fresh

    async def _look_up_credentials(self) -> LumaCredentials:
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.settings.conn_id, hook=self.hook_class)
        return LumaCredentials.from_connection(conn)

    async def call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        creates: bool = False,
        deadline: float | None = None,
        retry_rate_limits: bool = True,
    ) -> Any:
        """
        Send a request and return Luma's decoded JSON, retrying transient failures.

        :param session: from :func:`shared_session`.
        :param method: HTTP method.
        :param path: path relative to the base URL.
        :param json: request body.
        :param params: query parameters.
        :param creates: the request creates a generation: it is re-sent only when it surely
            created nothing, and a failure after it may have reached Luma raises
            :class:`~airflow_provider_luma.exceptions.LumaAmbiguousCreateError`.
        :param deadline: epoch seconds the call, retries and their waits included, must end by.
        :param retry_rate_limits: wait out a 429 here (False: raise it at once).
        """
        request = _Request(method, path, json, params, deadline)
        credentials = await self.credentials()
        try:
            # Nearly every poll succeeds at once, so the retry loop is built only after a failure
            # (at 200 concurrent waits this saves about a sixth of the CPU per poll: the "retry
            # loop built only after a failure" row of make bench).
            return await self._send(session, credentials, request)
        except LumaAuthenticationError:
            # The shared credentials may predate a key rotation: look the connection up again once.
            _shared_credentials().pop(self.settings.conn_id, None)
            fresh = await self.credentials()
            if fresh == credentials:
                raise
            return await self._send(session, fresh, request)
        except LumaError as exc:
            failures = [exc]

        async def try_again() -> Any:
            if failures:  # the loop's first try is the failure we already have: same waits, same log
                raise failures.pop()
            return await self._send(session, credentials, request)

        policy = retry_policy(
            self.settings,
            creates=creates,
            log=self.log,
            deadline=deadline,
            retry_rate_limits=retry_rate_limits,
        )
        try:
            return await AsyncRetrying(**policy)(try_again)
        except LumaError as exc:
            ambiguous = ambiguous_create_error(exc) if creates else None
            if ambiguous is not None:
                raise ambiguous from exc
            raise

    async def _send(
        self, session: aiohttp.ClientSession, credentials: LumaCredentials, request: _Request
    ) -> Any:
        import aiohttp

        method, path = request.method, request.path
        timeout = aiohttp.ClientTimeout(
            total=self.settings.read_timeout_until(request.deadline), connect=self.settings.connect_timeout
        )
        url = f"{credentials.base_url}{path}"
        proxy, proxy_auth = env_proxy(credentials.base_url)
        try:
            async with session.request(
                method,
                url,
                headers=credentials.headers,
                json=request.json,
                params=request.params,
                timeout=timeout,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                body = (await response.read()).decode("utf-8", errors="replace")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = transport_error(exc, method, path, timeout.total or 0.0)
            raise (error or LumaTransportError(f"{method} {path}: {exc!r}", True)) from exc
        return parse_response(response.status, response.headers, body, method, path, self.settings.conn_id)


@dataclass(frozen=True)
class _Request:
    """One API call: what is sent, and by when it must be answered."""

    method: str
    path: str
    json: Any
    params: dict[str, Any] | None
    deadline: float | None
