"""
The hook's blocking transport: one ``requests`` session, tenacity retries, Luma's rules.

requests, not httpx: the asset copy needs requests (urllib3) anyway, at about twice httpx's
throughput, so the worker's calls use it too and the provider runs on two HTTP clients, aiohttp on
the triggerer and requests on the worker (``python -m benchmarks.bench_http_clients``: a call
costs a fraction of a millisecond more than through httpx). It is imported on the first call, not
with the hook, so a task process that makes no call does not pay for it.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from tenacity import Retrying

from airflow_provider_luma.exceptions import LumaError
from airflow_provider_luma.hooks._http import (
    ambiguous_create_error,
    parse_response,
    retry_policy,
    transport_error,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests
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
        """One HTTP session (connection pool) for all calls; it sends the API key and nothing else."""
        import requests

        session = requests.Session()
        session.headers.update(self.credentials.headers)
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
        try:
            # Redirects are not followed (the key must not travel to another host); urllib3 sends
            # each request once (requests' default: no retries of its own, tenacity decides).
            response = self.session.request(
                method,
                url,
                json=json,
                params=params,
                timeout=(connect_timeout, read_timeout),
                allow_redirects=False,
            )
        except Exception as exc:
            error = transport_error(exc, method, path, read_timeout)
            if error is None:
                raise
            raise error from exc
        return parse_response(
            response.status_code,
            response.headers,
            # As the async path reads it: no guessing of a charset Luma does not send.
            response.content.decode("utf-8", errors="replace"),
            method,
            path,
            self.settings.conn_id,
        )


def _keep_headers(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """requests auth that adds nothing: the session's headers carry the key."""
    return request
