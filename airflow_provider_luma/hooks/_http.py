"""
How the hook reads Luma's answers and decides what to retry; shared by the sync and async paths.

The rules: 408/409/429/5xx and connection errors are retried with exponential backoff and jitter,
honouring ``retry-after-ms`` / ``Retry-After`` and ``x-should-retry``; other 4xx fail at once with
a message that says what to fix. A create is re-sent only when it never left (a connection that
never opened); a 429 on a create is raised for the caller to wait out. A call given a deadline never
runs past it, retries included.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from airflow_provider_luma import metrics
from airflow_provider_luma.exceptions import (
    LumaAmbiguousCreateError,
    LumaApiError,
    LumaAuthenticationError,
    LumaBadRequestError,
    LumaDeadlineError,
    LumaError,
    LumaNotFoundError,
    LumaRetryableError,
    LumaTransportError,
)
from airflow_provider_luma.kinds import KINDS, Into
from airflow_provider_luma.redaction import redacted_text

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: Never sleep longer than this between two tries, whatever Retry-After asks.
MAX_RETRY_AFTER_SECONDS = 60.0
#: 0.5 s doubling to 8 s, plus up to 0.5 s of jitter (the official SDKs' schedule).
_backoff = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5)
#: The create requests' fields, looked for in Luma's 400 messages ("Prompt is too short...",
#: "model must be one of..."): every field a kind of generation sends.
REQUEST_FIELDS = tuple(
    sorted(
        {
            param.field or param.name
            for kind in KINDS.values()
            for param in kind.params
            if param.into is Into.BODY
        }
    )
)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """
    Read how long the server asked us to wait, in seconds.

    :param headers: response headers (case-insensitive mapping).
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _detail(body: str) -> str | None:
    """What an error answer says, its URLs redacted: it may quote the request's signed URLs."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return redacted_text(body.strip()[:300]) or None
    if isinstance(parsed, Mapping) and "detail" in parsed:
        detail = parsed["detail"]
        return redacted_text(detail if isinstance(detail, str) else json.dumps(detail)[:500])
    return redacted_text(json.dumps(parsed)[:300])


def refused_field(body: str) -> str | None:
    """
    The request field a 400 or 422 answer is about, as far as its body tells.

    A 422 (FastAPI's list of errors) gives the first error's location (``body`` left out); a 400
    (a message) the first field of the request it mentions.

    :param body: the answer's body as text.
    """
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = body
    if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
        loc = [part for part in detail[0].get("loc") or () if part != "body"]
        name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        return name or None
    if not isinstance(detail, str):
        return None
    mentioned = [
        (found.start(), field)
        for field in REQUEST_FIELDS
        if (found := re.search(rf"\b{field}s?\b", detail, flags=re.IGNORECASE))
    ]
    return min(mentioned)[1] if mentioned else None


def parse_response(
    status: int, headers: Mapping[str, str], body: str, method: str, path: str, conn_id: str
) -> Any:
    """
    Return the decoded JSON of a successful answer, or raise the error that fits the status.

    :param status: HTTP status code.
    :param headers: response headers (case-insensitive mapping).
    :param body: response body as text.
    :param method: HTTP method of the request.
    :param path: request path relative to the base URL.
    :param conn_id: Airflow connection id, named in hints about credentials.
    """
    if 200 <= status < 300:
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise LumaRetryableError(
                status, method, path, detail="the answer was not valid JSON", hint="Luma may be degraded"
            ) from None
    detail = _detail(body)
    if status == 429:
        metrics.rate_limited(method, path)
    should_retry = headers.get("x-should-retry")
    if status in (401, 403):
        raise LumaAuthenticationError(
            status,
            method,
            path,
            detail,
            hint=f"Check the API key in the password field of Airflow connection {conn_id!r}",
        )
    if status == 404:
        raise LumaNotFoundError(
            status, method, path, detail, hint="The generation does not exist or was deleted"
        )
    if should_retry == "true" or (
        should_retry != "false" and (status in RETRYABLE_STATUSES or status >= 500)
    ):
        raise LumaRetryableError(status, method, path, detail, retry_after=parse_retry_after(headers))
    if status in (400, 422):
        param = refused_field(body)
        hint = f"Luma refused {param!r}: fix that parameter" if param else "Fix the request parameters"
        raise LumaBadRequestError(status, method, path, detail, hint=hint, param=param)
    raise LumaApiError(status, method, path, detail)


def transport_error(
    exc: BaseException, method: str, path: str, read_timeout: float
) -> LumaTransportError | None:
    """
    The :class:`LumaTransportError` for what a client library raised, or None if it is not a transport error.

    The one place that says, for each library the hook uses (requests on the worker, aiohttp on
    the triggerer), whether a failed request may have reached Luma: only a connection that never
    opened (or a URL never sent) is ``request_sent=False``, which alone lets a create be re-sent.
    The library is told by the exception's module, so a process imports only the one it uses.

    :param exc: what the library raised.
    :param method: HTTP method of the request.
    :param path: request path relative to the base URL.
    :param read_timeout: seconds the answer was waited for, named when it did not come.
    """
    library = type(exc).__module__.split(".", 1)[0]
    if library == "requests":
        return _requests_error(exc, method, path, read_timeout)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):  # not one class before Python 3.11
        return LumaTransportError(f"{method} {path}: connection failed ({type(exc).__name__})", True)
    if library == "aiohttp":
        return _aiohttp_error(exc, method, path)
    return None


def _requests_error(
    exc: BaseException, method: str, path: str, read_timeout: float
) -> LumaTransportError | None:
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if not isinstance(exc, requests.RequestException):
        return None
    # urllib3 gives up on a connection (no retries of its own) with MaxRetryError(reason=...), and
    # re-raises a read failure as it came (ProtocolError, a reset...): the reason tells them apart.
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.ConnectTimeout) or isinstance(reason, ConnectTimeoutError):
        return LumaTransportError(f"{method} {path}: could not connect to Luma ({exc})", False)
    never_sent = (
        requests.exceptions.ProxyError,
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
    )
    if isinstance(exc, never_sent) or isinstance(reason, NewConnectionError):
        # urllib3 raises ProxyError only before it reached the proxy; the others before connecting.
        return LumaTransportError(f"{method} {path}: connection failed ({exc})", False)
    if isinstance(exc, requests.Timeout):
        return LumaTransportError(
            f"{method} {path}: no answer within {read_timeout:.1f} s", request_sent=True
        )
    # Broke off while sending or reading (or TLS failed somewhere): it may have arrived.
    return LumaTransportError(f"{method} {path}: connection failed ({exc})", True)


def _aiohttp_error(exc: BaseException, method: str, path: str) -> LumaTransportError | None:
    import aiohttp

    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return LumaTransportError(f"{method} {path}: could not connect to Luma ({exc})", False)
    if isinstance(exc, aiohttp.ClientError):
        return LumaTransportError(
            f"{method} {path}: connection failed ({type(exc).__name__})", request_sent=True
        )
    return None


def is_retryable(exc: BaseException, *, creates: bool) -> bool:
    """
    Decide whether to send the same request again.

    :param exc: what the last try raised.
    :param creates: True for requests that create a generation, which are re-sent only when they
        never left (Luma has no idempotency key); a 429 on one is the caller's to wait out.
    """
    if isinstance(exc, LumaTransportError):
        return not (creates and exc.request_sent)
    return isinstance(exc, LumaRetryableError) and not creates


def ambiguous_create_error(exc: LumaError) -> LumaAmbiguousCreateError | None:
    """
    The error to raise for a create that failed after it may have reached Luma (None: it surely did not).

    :param exc: what the create's last try raised, retries done.
    """
    if isinstance(exc, LumaRetryableError) and exc.http_status == 429:
        return None  # refused before anything was made
    if isinstance(exc, (LumaRetryableError, LumaTransportError)) and not is_retryable(exc, creates=True):
        error = LumaAmbiguousCreateError(
            f"{exc}; the request may have reached Luma, so it was not sent again blindly"
        )
        error.__cause__ = exc
        return error
    return None


def wait_before_retry(retry_state: RetryCallState) -> float:
    """Tenacity wait: the server's Retry-After when it gave one, else exponential backoff with jitter."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
    return float(_backoff(retry_state))


@dataclass(frozen=True)
class TransportSettings:
    """
    How one hook talks to Luma; the same for its sync and async calls.

    :param conn_id: the Airflow connection, named in hints about credentials.
    :param connect_timeout: seconds to wait for a connection to open.
    :param read_timeout: seconds to wait for an answer.
    :param max_retries: how many times a failed call is tried again.
    """

    conn_id: str
    connect_timeout: float
    read_timeout: float
    max_retries: int

    def read_timeout_until(self, deadline: float | None) -> float:
        """
        The read timeout of one try: ``read_timeout``, cut to the time left before ``deadline``.

        :param deadline: epoch seconds the whole call must end by, or None.
        """
        if deadline is None:
            return self.read_timeout
        left = deadline - time.time()
        if left <= 0:
            raise LumaDeadlineError("the wait's deadline passed before Luma answered")
        return min(self.read_timeout, left)


def retry_policy(
    settings: TransportSettings,
    *,
    creates: bool,
    log: Logger,
    deadline: float | None = None,
) -> dict[str, Any]:
    """
    Tenacity settings for one call: which failures to retry, how long to wait, when to stop.

    :param settings: the hook's transport settings.
    :param creates: the call creates a generation (re-sent only when it surely created nothing).
    :param log: where each retry is logged.
    :param deadline: epoch seconds the call must end by, retries and their waits included.
    """

    def retry(exc: BaseException) -> bool:
        return is_retryable(exc, creates=creates)

    attempts = settings.max_retries + 1

    def wait(retry_state: RetryCallState) -> float:
        pause = wait_before_retry(retry_state)
        return pause if deadline is None else max(0.0, min(pause, deadline - time.time()))

    def log_retry(retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        sleep = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning(
            "%s; try %d of %d failed, trying again in %.1f s",
            exc,
            retry_state.attempt_number,
            attempts,
            sleep,
        )

    stop: stop_base = stop_after_attempt(attempts)
    if deadline is not None:
        stop = stop_any(stop, _StopAt(deadline))
    return {
        "stop": stop,
        "wait": wait,
        "retry": retry_if_exception(retry),
        "before_sleep": log_retry,
        "reraise": True,
    }


class _StopAt(stop_base):
    """Tenacity stop: the deadline (epoch seconds) has passed."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.time() >= self.deadline
