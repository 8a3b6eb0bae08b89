"""
How the hook's calls travel: blocking on a worker (requests), non-blocking on the triggerer (aiohttp).

Both apply the same rules (:mod:`airflow_provider_luma.hooks._http`): tenacity retries what Luma's
rules allow, a create is never re-sent once it may have reached Luma, a deadline bounds every call.

requests, not httpx, on the worker: the asset copy needs requests (urllib3) anyway, at about twice
httpx's throughput (``python -m benchmarks --only http-clients``). It is imported on the first
call, not with the hook, so a task process that makes no call does not pay for it.

A triggerer runs all its triggers on one event loop. The waits on it share one aiohttp session
(connection pool), closed when the last wait using it leaves, and each connection's credentials,
kept for a minute: a triggerer restart hands over hundreds of waits at once, and each would
otherwise open its own connections and ask Airflow for the same connection at every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
import weakref
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, Retrying

from airflow_provider_luma.exceptions import (
    LumaAuthenticationError,
    LumaConnectionConfigError,
    LumaError,
    LumaTransportError,
)
from airflow_provider_luma.hooks._credentials import LumaCredentials
from airflow_provider_luma.hooks._http import (
    ambiguous_create_error,
    parse_response,
    retry_policy,
    transport_error,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import aiohttp
    import requests
    from airflow.sdk.types import Logger

    from airflow_provider_luma.hooks._http import TransportSettings


class SyncTransport:
    """
    Sends one API call at a time from a worker, retrying what Luma's rules allow.

    :param settings: timeouts, retries and the connection id.
    :param credentials: called once, on the first request, for the base URL and key.
    :param log: where retries are logged.
    """

    def __init__(
        self, settings: TransportSettings, credentials: Callable[[], LumaCredentials], log: Logger
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self.log = log

    @cached_property
    def session(self) -> requests.Session:
        """One HTTP session (connection pool) for all calls; it sends the API key and nothing else."""
        import requests

        session = requests.Session()
        session.headers.update(self._credentials().headers)
        # A session-wide auth keeps requests from replacing the key with a ~/.netrc entry for the
        # API host; proxies from HTTP(S)_PROXY/NO_PROXY are still honoured (trust_env).
        session.auth = _keep_headers
        return session

    def close(self) -> None:
        """Close the session's connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        creates: bool = False,
        deadline: float | None = None,
    ) -> Any:
        """
        Send a request and return Luma's decoded JSON, retrying transient failures.

        :param method: HTTP method.
        :param path: path relative to the base URL.
        :param json: request body.
        :param params: query parameters.
        :param creates: the request creates a generation: re-sent only when it surely created
            nothing, never after a 429 (the caller waits that out), and a failure after it may have
            reached Luma raises :class:`~airflow_provider_luma.exceptions.LumaAmbiguousCreateError`.
        :param deadline: epoch seconds the call, retries included, must end by.
        """
        if creates:
            self._credentials().check_serves(json, self.settings.conn_id)
        policy = retry_policy(self.settings, creates=creates, log=self.log, deadline=deadline)
        try:
            return Retrying(**policy)(self._send, method, path, json, params, deadline)
        except LumaError as exc:
            _raise_ambiguous(exc, creates)
            raise

    def _send(
        self, method: str, path: str, json: Any, params: dict[str, Any] | None, deadline: float | None
    ) -> Any:
        url = f"{self._credentials().base_url}{path}"
        read_timeout = self.settings.read_timeout_until(deadline)
        try:
            # Redirects are not followed (the key must not travel to another host); urllib3 sends
            # each request once (requests' default: no retries of its own, tenacity decides).
            response = self.session.request(
                method,
                url,
                json=json,
                params=params,
                timeout=(self.settings.connect_timeout, read_timeout),
                allow_redirects=False,
            )
        except Exception as exc:
            error = transport_error(exc, method, path, read_timeout)
            if error is None:
                raise
            raise error from exc
        # Decoded as the async path does: no guessing of a charset Luma does not send.
        body = response.content.decode("utf-8", errors="replace")
        return parse_response(
            response.status_code, response.headers, body, method, path, self.settings.conn_id
        )


def _raise_ambiguous(exc: LumaError, creates: bool) -> None:
    """Raise the error of a create that failed after it may have reached Luma, if it is one."""
    ambiguous = ambiguous_create_error(exc) if creates else None
    if ambiguous is not None:
        raise ambiguous from exc


def _keep_headers(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """requests auth that adds nothing: the session's headers carry the key."""
    return request


# -- the triggerer ----------------------------------------------------------------------------------

#: How long a connection's credentials serve every wait: a rotated key reaches running waits within
#: a minute (sooner after a 401, see :meth:`AsyncTransport.call`).
CREDENTIALS_MAX_AGE_SECONDS = 60.0
#: Per event loop: connection id -> its credentials and when they were looked up (monotonic).
_credentials_by_loop: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[LumaCredentials, float]]
] = weakref.WeakKeyDictionary()


def _kept_credentials() -> dict[str, tuple[LumaCredentials, float]]:
    """The running loop's credentials kept by connection id."""
    return _credentials_by_loop.setdefault(asyncio.get_running_loop(), {})


class AsyncTransport:
    """
    Sends API calls from the triggerer without blocking its event loop, retrying what Luma's rules allow.

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
        kept_by_conn = _kept_credentials()
        kept = kept_by_conn.get(self.settings.conn_id)
        if kept is not None and time.monotonic() - kept[1] <= CREDENTIALS_MAX_AGE_SECONDS:
            return kept[0]
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.settings.conn_id, hook=self.hook_class)
        fresh = LumaCredentials.from_connection(conn)
        kept_by_conn[self.settings.conn_id] = (fresh, time.monotonic())
        return fresh

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
    ) -> Any:
        """
        :meth:`SyncTransport.call`, on the triggerer's event loop.

        :param session: from :func:`shared_session`.
        :param method: HTTP method.
        :param path: path relative to the base URL.
        :param json: request body.
        :param params: query parameters.
        :param creates: the request creates a generation (see :meth:`SyncTransport.call`).
        :param deadline: epoch seconds the call, retries and their waits included, must end by.
        """
        credentials = await self.credentials()
        if creates:
            credentials.check_serves(json, self.settings.conn_id)
        send = functools.partial(self._send, session, method, path, json, params, deadline)
        try:
            try:
                return await send(credentials)
            except LumaAuthenticationError:
                # The kept credentials may predate a key rotation: look the connection up again once.
                _kept_credentials().pop(self.settings.conn_id, None)
                fresh = await self.credentials()
                if fresh == credentials:
                    raise
                return await send(fresh)
            except LumaError as first_failure:
                failures = [first_failure]

            async def try_again() -> Any:
                if failures:  # the loop's first try is the failure we already have: same waits, same log
                    raise failures.pop()
                return await send(credentials)

            policy = retry_policy(self.settings, creates=creates, log=self.log, deadline=deadline)
            return await AsyncRetrying(**policy)(try_again)
        except LumaError as exc:
            _raise_ambiguous(exc, creates)
            raise

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        json: Any,
        params: dict[str, Any] | None,
        deadline: float | None,
        credentials: LumaCredentials,
    ) -> Any:
        import aiohttp

        timeout = aiohttp.ClientTimeout(
            total=self.settings.read_timeout_until(deadline), connect=self.settings.connect_timeout
        )
        proxy, proxy_headers = env_proxy(credentials.base_url)
        try:
            async with session.request(
                method,
                f"{credentials.base_url}{path}",
                headers=credentials.headers,
                json=json,
                params=params,
                timeout=timeout,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as response:
                body = (await response.read()).decode("utf-8", errors="replace")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = transport_error(exc, method, path, timeout.total or 0.0)
            raise (error or LumaTransportError(f"{method} {path}: {exc!r}", True)) from exc
        return parse_response(response.status, response.headers, body, method, path, self.settings.conn_id)


#: The variables a proxy is read from, as requests reads them on the worker.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def env_proxy(base_url: str) -> tuple[str | None, dict[str, str] | None]:
    """
    The proxy requests would take for ``base_url`` on a worker (``HTTPS_PROXY``/``HTTP_PROXY`` by
    scheme, else ``ALL_PROXY``, unless ``NO_PROXY`` covers the host) and its credentials' headers,
    or ``(None, None)``. Not aiohttp's ``trust_env``: it ignores ``ALL_PROXY``, looks the proxy up
    in a thread on every request, and would send a ``~/.netrc`` password to the API host.

    :param base_url: the connection's base URL.
    :raises LumaConnectionConfigError: the proxy named is not an ``http(s)://`` one.
    """
    names = [name for variable in PROXY_VARIABLES for name in (variable, variable.upper())]
    return _env_proxy(base_url, tuple(os.environ.get(name) for name in names))


@functools.lru_cache(maxsize=64)
def _env_proxy(
    base_url: str, environment: tuple[str | None, ...]
) -> tuple[str | None, dict[str, str] | None]:
    import base64
    import urllib.request
    from urllib.parse import urlsplit

    from yarl import URL

    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if urllib.request.proxy_bypass(parts.hostname or ""):  # NO_PROXY, as requests and aiohttp read it
        return None, None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None, None
    url = URL(proxy if "://" in proxy else f"http://{proxy}")  # requests reads "host:port" so too
    if url.scheme not in ("http", "https"):
        raise LumaConnectionConfigError(
            f"The environment's proxy for {parts.scheme}:// URLs is {url.scheme}://, which the "
            "triggerer's HTTP client cannot use: name an http:// proxy (HTTPS_PROXY or ALL_PROXY)"
        )
    if not url.user:
        return str(url), None
    credentials = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode("ascii")
    return str(url.with_user(None)), {"Proxy-Authorization": f"Basic {credentials}"}


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


_shared_sessions = SharedSessions()


def shared_session() -> contextlib.AbstractAsyncContextManager[aiohttp.ClientSession]:
    """
    The aiohttp session shared by every wait on the running event loop.

    Use as ``async with shared_session() as session``; the session is closed when the last wait
    using it leaves, on success, error or cancellation.
    """
    return _shared_sessions.use()
