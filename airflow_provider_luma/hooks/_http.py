"""
How the hook reads Luma's answers and decides what to retry; shared by the sync and async paths.

The rules (see ``shared/DESIGN.md``): 408/409/429/5xx and connection errors are retried with
exponential backoff and jitter, honouring ``retry-after-ms`` / ``Retry-After`` and
``x-should-retry``; other 4xx fail at once with a message that says what to fix. A create is
retried only when it surely created nothing: a 429, or a connection that never opened.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from tenacity import RetryCallState, wait_exponential, wait_random

from airflow_provider_luma.exceptions import (
    LumaApiError,
    LumaAuthenticationError,
    LumaBadRequestError,
    LumaNotFoundError,
    LumaRetryableError,
    LumaTransportError,
)

RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: Never sleep longer than this between two tries, whatever Retry-After asks.
MAX_RETRY_AFTER_SECONDS = 60.0
#: 0.5 s doubling to 8 s, plus up to 0.5 s of jitter (the official SDKs' schedule).
_backoff = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5)


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
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:300] or None
    if isinstance(parsed, Mapping) and "detail" in parsed:
        detail = parsed["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail)[:500]
    return json.dumps(parsed)[:300]


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
        raise LumaBadRequestError(status, method, path, detail, hint="Fix the request parameters")
    raise LumaApiError(status, method, path, detail)


def is_retryable(exc: BaseException, *, creates: bool) -> bool:
    """
    Decide whether to send the same request again.

    :param exc: what the last try raised.
    :param creates: True for requests that create a generation, which may only be re-sent when
        they surely created nothing (Luma has no idempotency key).
    """
    if isinstance(exc, LumaTransportError):
        return not (creates and exc.request_sent)
    if isinstance(exc, LumaRetryableError):
        return exc.http_status == 429 if creates else True
    return False


def wait_before_retry(retry_state: RetryCallState) -> float:
    """Tenacity wait: the server's Retry-After when it gave one, else exponential backoff with jitter."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
    return float(_backoff(retry_state))
