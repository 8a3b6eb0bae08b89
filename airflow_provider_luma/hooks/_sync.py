"""The hook's blocking transport: one ``requests`` session, tenacity retries, Luma's rules."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from tenacity import Retrying

from airflow_provider_luma.exceptions import (
    LumaAmbiguousCreateError,
    LumaRetryableError,
    LumaTransportError,
)
from airflow_provider_luma.hooks._http import is_retryable, parse_response, retry_policy

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk.types import Logger

    from airflow_provider_luma.hooks._credentials import LumaCredentials
    from airflow_provider_luma.hooks._http import TransportSettings


class SyncTransport:
    """
    Sends one API call at a time, retrying what Luma's rules allow.

    :param settings: timeouts, retries and the connection id.
    :param credentials: called once, on the first request, for the base URL and key.
    :param log: where retries are logged.
    """

    def __init__(
        self,
        settings: TransportSettings,
        credentials: Callable[[], LumaCredentials],
        log: Logger,
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self.log = log

    @cached_property
    def credentials(self) -> LumaCredentials:
        """The connection's base URL and key (looked up on first use)."""
        return self._credentials()

    @cached_property
    def session(self) -> requests.Session:
        """One HTTP session (connection pool) for all calls."""
        session = requests.Session()
        session.headers.update(self.credentials.headers)
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
        retry_rate_limits: bool = True,
    ) -> Any:
        """
        Send a request and return Luma's decoded JSON, retrying transient failures.

        :param method: HTTP method.
        :param path: path relative to the base URL.
        :param json: request body.
        :param params: query parameters.
        :param creates: the request creates a generation: it is re-sent only when it surely
            created nothing, and a failure after it may have reached Luma raises
            :class:`LumaAmbiguousCreateError`.
        :param deadline: epoch seconds the call, retries included, must end by.
        :param retry_rate_limits: wait out a 429 here (False: raise it at once).
        """
        policy = retry_policy(
            self.settings,
            creates=creates,
            log=self.log,
            deadline=deadline,
            retry_rate_limits=retry_rate_limits,
        )
        try:
            return Retrying(**policy)(self._send, method, path, json, params, deadline)
        except (LumaRetryableError, LumaTransportError) as exc:
            if creates and not is_retryable(exc, creates=True):
                raise LumaAmbiguousCreateError(
                    f"{exc}; the request may have reached Luma, so it was not sent again blindly"
                ) from exc
            raise

    def _send(
        self, method: str, path: str, json: Any, params: dict[str, Any] | None, deadline: float | None
    ) -> Any:
        url = f"{self.credentials.base_url}{path}"
        read_timeout = self.settings.read_timeout_until(deadline)
        try:
            response = self.session.request(
                method, url, json=json, params=params, timeout=(self.settings.connect_timeout, read_timeout)
            )
        except requests.ConnectTimeout as exc:
            raise LumaTransportError(f"{method} {path}: could not connect to Luma ({exc})", False) from exc
        except requests.ConnectionError as exc:
            raise LumaTransportError(
                f"{method} {path}: connection failed ({exc})", request_sent=not _never_connected(exc)
            ) from exc
        except requests.Timeout as exc:
            raise LumaTransportError(
                f"{method} {path}: no answer within {read_timeout:.1f} s", request_sent=True
            ) from exc
        return parse_response(
            response.status_code, response.headers, response.text, method, path, self.settings.conn_id
        )


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when requests failed before the connection opened (refused, DNS), so nothing was sent."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)
