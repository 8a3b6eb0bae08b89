"""LumaHook: the ``luma`` connection and every call of Luma's Dream Machine API."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_luma import CONNECTION_FORM
from airflow_provider_luma.exceptions import (
    LumaAmbiguousCreateError,
    LumaAuthenticationError,
    LumaConnectionConfigError,
    LumaError,
    LumaRetryableError,
    LumaTransportError,
)
from airflow_provider_luma.hooks._http import is_retryable, parse_response, wait_before_retry
from airflow_provider_luma.hooks._shared import SharedLookups, SharedSessions
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    import contextlib

    import aiohttp
    import yarl
    from airflow.providers.common.compat.sdk import Connection

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
#: How many of the newest generations are searched for one made by an ambiguous create.
RECENT_GENERATIONS_PAGE = 100


@dataclass(frozen=True)
class LumaCredentials:
    """
    Where and how to reach Luma, read from an Airflow connection.

    :param base_url: API base URL, without a trailing slash.
    :param api_key: the API key; left out of ``repr`` so it cannot leak through logs.
    """

    base_url: str
    api_key: str = field(repr=False)

    @classmethod
    def from_connection(cls, conn: Connection) -> LumaCredentials:
        """
        Read the API key from the password and the optional base URL from the host.

        :param conn: the Airflow connection.
        """
        if not conn.password:
            raise LumaConnectionConfigError(
                f"Airflow connection {conn.conn_id!r} has no API key: put your Luma API key in its "
                "password field (get one at https://lumalabs.ai/dream-machine/api/keys)"
            )
        return cls(base_url=_base_url(conn), api_key=conn.password)

    @cached_property
    def headers(self) -> dict[str, str]:
        """Headers every API request carries (built once: the trigger sends them on every poll)."""
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}


def _base_url(conn: Connection) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LumaConnectionConfigError(
            f"Airflow connection {conn.conn_id!r} has an unusable host {conn.host!r}: leave it empty for "
            f"{DEFAULT_BASE_URL}, or give an http(s) base URL such as http://127.0.0.1:8765/dream-machine/v1"
        )
    if conn.port and not parts.port:
        host = f"{parts.scheme}://{parts.hostname}:{conn.port}{parts.path}"
    return host.rstrip("/")


class LumaHook(BaseHook):
    """
    Talks to Luma's Dream Machine API with the API key of an Airflow ``luma`` connection.

    Every method returns Luma's JSON as plain dicts and lists. Failed calls raise the errors of
    :mod:`airflow_provider_luma.exceptions`; transient ones are retried first.

    :param luma_conn_id: Airflow connection with the API key in its password and, optionally, another
        base URL in its host.
    :param connect_timeout: seconds to wait for a connection to open.
    :param read_timeout: seconds to wait for an answer.
    :param max_retries: how many times a failed call is tried again (creates only when nothing was
        created).
    """

    conn_name_attr = "luma_conn_id"
    default_conn_name = "luma_default"
    conn_type = "luma"
    hook_name = "Luma AI"
    #: How far Luma's clock may be behind ours when matching an ambiguous create to a generation.
    #: Kept small: an identical request made by someone else within this window could be taken
    #: for ours.
    clock_skew_seconds = 10.0
    #: After a create failed in a way that may have created a generation, how long to wait before
    #: looking for it among the recent generations.
    ambiguous_create_settle_seconds = 1.0

    def __init__(
        self,
        luma_conn_id: str = default_conn_name,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        super().__init__()
        self.luma_conn_id = luma_conn_id
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self._async_timeout: aiohttp.ClientTimeout | None = None
        self._async_urls: dict[str, yarl.URL] = {}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form for Airflow older than 3.2 (newer ones read it from provider info)."""
        return CONNECTION_FORM

    # -- connection -----------------------------------------------------------------------------

    @cached_property
    def credentials(self) -> LumaCredentials:
        """The connection's base URL and API key (fetched once)."""
        return LumaCredentials.from_connection(self.get_connection(self.luma_conn_id))

    async def aget_credentials(self) -> LumaCredentials:
        """
        The connection's base URL and API key, fetched without blocking the event loop.

        Waits on one event loop share one lookup per connection for up to a minute.
        """
        return await _shared_credentials.get(self.luma_conn_id, self._alook_up_credentials)

    async def _alook_up_credentials(self) -> LumaCredentials:
        from airflow.providers.common.compat.connection import get_async_connection

        conn = await get_async_connection(self.luma_conn_id, hook=type(self))
        return LumaCredentials.from_connection(conn)

    @cached_property
    def session(self) -> requests.Session:
        """One HTTP session (connection pool) for all of this hook's sync calls."""
        session = requests.Session()
        session.headers.update(self.credentials.headers)
        return session

    def close(self) -> None:
        """Close the sync session's connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and base URL with ``GET /ping`` (the UI's and CLI's connection test)."""
        try:
            self.ping()
        except LumaError as exc:
            return False, str(exc)
        return True, f"Connected to Luma at {self.credentials.base_url}"

    # -- sync transport -------------------------------------------------------------------------

    def _retry_policy(self, creates: bool) -> dict[str, Any]:
        """Tenacity settings shared by the sync and async paths."""
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": wait_before_retry,
            "retry": retry_if_exception(lambda exc: is_retryable(exc, creates=creates)),
            "before_sleep": self._retry_log,
            "reraise": True,
        }

    def _retry_log(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        sleep = retry_state.next_action.sleep if retry_state.next_action else 0.0
        self.log.warning(
            "%s; try %d of %d failed, trying again in %.1f s",
            exc,
            retry_state.attempt_number,
            self.max_retries + 1,
            sleep,
        )

    def _send(self, method: str, path: str, json: Any, params: dict[str, Any] | None) -> Any:
        url = f"{self.credentials.base_url}{path}"
        try:
            response = self.session.request(
                method, url, json=json, params=params, timeout=(self.connect_timeout, self.read_timeout)
            )
        except requests.ConnectTimeout as exc:
            raise LumaTransportError(f"{method} {path}: could not connect to Luma ({exc})", False) from exc
        except requests.ConnectionError as exc:
            raise LumaTransportError(
                f"{method} {path}: connection failed ({exc})", request_sent=not _never_connected(exc)
            ) from exc
        except requests.Timeout as exc:
            raise LumaTransportError(
                f"{method} {path}: no answer within {self.read_timeout} s", request_sent=True
            ) from exc
        return parse_response(
            response.status_code, response.headers, response.text, method, path, self.luma_conn_id
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        creates: bool = False,
    ) -> Any:
        try:
            return Retrying(**self._retry_policy(creates))(self._send, method, path, json, params)
        except (LumaRetryableError, LumaTransportError) as exc:
            if creates and not is_retryable(exc, creates=True):
                raise LumaAmbiguousCreateError(
                    f"{exc}; the request may have reached Luma, so it was not sent again blindly"
                ) from exc
            raise

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """
        POST a create; after an ambiguous failure, adopt the generation it made instead of paying twice.

        Luma has no idempotency key. When a create fails after it may have reached Luma, the
        recent generations are searched for one with our request, created since we sent it. Only
        when there is none is the create sent again (at most ``max_retries`` times).
        """
        for attempt in range(self.max_retries + 1):
            sent_at = time.time()
            try:
                generation: dict[str, Any] = self._call("POST", path, json=body, creates=True)
            except LumaAmbiguousCreateError as exc:
                time.sleep(self.ambiguous_create_settle_seconds)  # let Luma list what it made
                adopted = self.find_recent_generation(body, since=sent_at)
                if adopted is not None:
                    self.log.warning("%s; adopting generation %s, made by that request", exc, adopted["id"])
                    return adopted
                if attempt == self.max_retries:
                    raise LumaAmbiguousCreateError(
                        f"{exc}. Luma lists no generation made by it; check GET /generations before "
                        "creating another"
                    ) from exc.__cause__
                self.log.warning("%s; Luma lists no generation for it, so creating it again", exc)
                continue
            self.log.info("Luma generation %s created (%s)", generation.get("id"), path)
            return generation
        raise AssertionError("unreachable")  # the loop returns or raises

    def find_recent_generation(self, body: dict[str, Any], since: float) -> dict[str, Any] | None:
        """
        The newest generation whose request matches ``body`` and that was created after ``since``.

        :param body: the create request we sent.
        :param since: epoch seconds when we sent it; Luma's clock may differ by up to
            ``clock_skew_seconds``.
        """
        page = self.list_generations(limit=RECENT_GENERATIONS_PAGE, offset=0)
        for generation in page.get("generations") or []:
            created = _epoch_seconds(generation.get("created_at"))
            if created is not None and created < since - self.clock_skew_seconds:
                break  # newest first: the rest are older still
            request = generation.get("request") or {}
            if all(request.get(key) == value for key, value in body.items()):
                return dict(generation)
        return None

    # -- the 13 endpoints -----------------------------------------------------------------------

    def create_image(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Start an image generation (``POST /generations/image``); returns the generation.

        :param body: the request, e.g. from :func:`airflow_provider_luma.validation.build_image_request`.
        """
        return self._create("/generations/image", body)

    def reframe_image(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Extend an image to a new aspect ratio (``POST /generations/image/reframe``).

        :param body: the request, in the API's shape.
        """
        return self._create("/generations/image/reframe", body)

    def create_video(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Start a video generation (``POST /generations/video``).

        :param body: the request, in the API's shape.
        """
        return self._create("/generations/video", body)

    def modify_video(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Restyle a video (``POST /generations/video/modify``).

        :param body: the request, in the API's shape.
        """
        return self._create("/generations/video/modify", body)

    def reframe_video(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Extend a video to a new aspect ratio (``POST /generations/video/reframe``).

        :param body: the request, in the API's shape.
        """
        return self._create("/generations/video/reframe", body)

    def upscale_video(self, generation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """
        Upscale a finished video (``POST /generations/{id}/upscale``).

        :param generation_id: id of the finished video generation.
        :param body: the request, e.g. ``{"generation_type": "upscale_video", "resolution": "1080p"}``.
        """
        return self._create(f"/generations/{check_generation_id(generation_id)}/upscale", body)

    def add_audio(self, generation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """
        Add audio to a finished video (``POST /generations/{id}/audio``).

        :param generation_id: id of the finished video generation.
        :param body: the request, e.g. ``{"generation_type": "add_audio", "prompt": "rain"}``.
        """
        return self._create(f"/generations/{check_generation_id(generation_id)}/audio", body)

    def get_generation(self, generation_id: str) -> dict[str, Any]:
        """
        Fetch one generation (``GET /generations/{id}``).

        :param generation_id: the generation's id.
        """
        generation: dict[str, Any] = self._call("GET", f"/generations/{check_generation_id(generation_id)}")
        return generation

    def delete_generation(self, generation_id: str) -> None:
        """
        Delete one generation (``DELETE /generations/{id}``).

        :param generation_id: the generation's id.
        """
        self._call("DELETE", f"/generations/{check_generation_id(generation_id)}")

    def list_generations(self, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """
        One page of generations, newest first: ``{generations, count, has_more, limit, offset}``.

        :param limit: page size.
        :param offset: how many generations to skip.
        """
        page: dict[str, Any] = self._call("GET", "/generations", params={"limit": limit, "offset": offset})
        return page

    def list_concepts(self) -> list[str]:
        """Concept keys usable in video requests (``GET /generations/concepts/list``)."""
        concepts: list[str] = self._call("GET", "/generations/concepts/list")
        return concepts

    def get_credits(self) -> dict[str, Any]:
        """The account's balance, ``{"credit_balance": <US cents>}`` (``GET /credits``)."""
        balance: dict[str, Any] = self._call("GET", "/credits")
        return balance

    def ping(self) -> dict[str, Any]:
        """A cheap authenticated check (``GET /ping``)."""
        answer: dict[str, Any] = self._call("GET", "/ping")
        return answer

    # -- async path (triggers) ------------------------------------------------------------------

    @staticmethod
    def async_session() -> contextlib.AbstractAsyncContextManager[aiohttp.ClientSession]:
        """
        The aiohttp session shared by every wait on the running event loop.

        Use as ``async with LumaHook.async_session() as session``; the session is closed when the
        last wait using it leaves, on success, error or cancellation.
        """
        return _shared_sessions.use()

    async def aget_generation(self, generation_id: str, session: aiohttp.ClientSession) -> dict[str, Any]:
        """
        Fetch one generation without blocking the event loop, retrying transient failures.

        :param generation_id: the generation's id.
        :param session: from :meth:`async_session`.
        """
        generation: dict[str, Any] = await self._acall(
            session, "GET", f"/generations/{check_generation_id(generation_id)}"
        )
        return generation

    async def adelete_generation(self, generation_id: str, session: aiohttp.ClientSession) -> None:
        """
        Delete one generation without blocking the event loop.

        :param generation_id: the generation's id.
        :param session: from :meth:`async_session`.
        """
        await self._acall(session, "DELETE", f"/generations/{check_generation_id(generation_id)}")

    async def _acall(self, session: aiohttp.ClientSession, method: str, path: str) -> Any:
        credentials = await self.aget_credentials()
        try:
            # Nearly every poll succeeds at once: building a retry loop for it would be about a
            # third of a poll's CPU, so the loop starts only after a failure.
            return await self._asend(session, credentials, method, path)
        except LumaAuthenticationError:
            # The shared credentials may predate a key rotation: look the connection up again once.
            _shared_credentials.forget(self.luma_conn_id)
            fresh = await self.aget_credentials()
            if fresh == credentials:
                raise
            return await self._asend(session, fresh, method, path)
        except LumaError as exc:
            if not is_retryable(exc, creates=False):
                raise
            failures = [exc]

        async def try_again() -> Any:
            if failures:  # the loop's first try is the failure we already have: same waits, same log
                raise failures.pop()
            return await self._asend(session, credentials, method, path)

        return await AsyncRetrying(**self._retry_policy(creates=False))(try_again)

    async def _asend(
        self, session: aiohttp.ClientSession, credentials: LumaCredentials, method: str, path: str
    ) -> Any:
        import aiohttp
        import yarl

        if self._async_timeout is None:
            self._async_timeout = aiohttp.ClientTimeout(total=self.read_timeout, connect=self.connect_timeout)
        url = f"{credentials.base_url}{path}"
        parsed_url = self._async_urls.get(url)
        if parsed_url is None:  # parsed once: a wait polls the same URL again and again
            parsed_url = self._async_urls[url] = yarl.URL(url)
        try:
            async with session.request(
                method,
                parsed_url,
                headers=credentials.headers,
                timeout=self._async_timeout,
            ) as response:
                body = (await response.read()).decode("utf-8", errors="replace")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise LumaTransportError(f"{method} {path}: could not connect to Luma ({exc})", False) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise LumaTransportError(
                f"{method} {path}: connection failed ({type(exc).__name__})", request_sent=True
            ) from exc
        return parse_response(response.status, response.headers, body, method, path, self.luma_conn_id)


def _epoch_seconds(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when requests failed before the connection opened (refused, DNS), so nothing was sent."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


_shared_sessions = SharedSessions()
#: A triggerer restart starts hundreds of waits at once: one connection lookup serves them all,
#: and a rotated key reaches running waits within a minute (sooner after a 401, see ``_acall``).
_shared_credentials: SharedLookups[LumaCredentials] = SharedLookups(max_age_seconds=60.0)
