"""
The hook's blocking transport: one ``httpx`` client, tenacity retries, Luma's rules.

httpx, not requests: Airflow's Task SDK talks to the API server with httpx, so a task process has
it loaded already, while importing requests (with urllib3 and charset_normalizer) was nine tenths
of the hook's import, paid again by every task process that creates a generation. The benchmarks
measure the hook's import in a task process against requests' own.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import Retrying

from airflow_provider_luma.exceptions import LumaError, LumaTransportError
from airflow_provider_luma.hooks._http import ambiguous_create_error, parse_response, retry_policy

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
    def session(self) -> httpx.Client:
        """One HTTP client (connection pool) for all calls."""
        return httpx.Client(headers=self.credentials.headers)

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
        except LumaError as exc:
            ambiguous = ambiguous_create_error(exc) if creates else None
            if ambiguous is not None:
                raise ambiguous from exc
            raise

    def _send(
        self, method: str, path: str, json: Any, params: dict[str, Any] | None, deadline: float | None
    ) -> Any:
        url = f"{self.credentials.base_url}{path}"
        read_timeout = self.settings.read_timeout_until(deadline)
        connect_timeout = self.settings.connect_timeout
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout)
        try:
            response = self.session.request(method, url, json=json, params=params, timeout=timeout)
        except httpx.ConnectTimeout as exc:
            raise LumaTransportError(f"{method} {path}: could not connect to Luma ({exc})", False) from exc
        except (httpx.ConnectError, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            # Raised before a connection carried the request: nothing reached Luma.
            raise LumaTransportError(f"{method} {path}: connection failed ({exc})", False) from exc
        except httpx.TimeoutException as exc:
            raise LumaTransportError(
                f"{method} {path}: no answer within {read_timeout:.1f} s", request_sent=True
            ) from exc
        except httpx.TransportError as exc:  # broke off while sending or reading: it may have arrived
            raise LumaTransportError(f"{method} {path}: connection failed ({exc})", True) from exc
        return parse_response(
            response.status_code, response.headers, response.text, method, path, self.settings.conn_id
        )
