"""
The Luma emulator in a process of its own, so its CPU and memory never count against a client.

:class:`EmulatorProcess` runs ``python -m airflow_provider_luma.testing`` and talks to its admin
endpoints (``/_emulator/...``); :class:`ApiClient` makes plain API calls (creates, mostly) with
the standard library, for the set-up of a benchmark, outside what it measures.
"""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from benchmarks._proc import LineReader, spawn, stop

if TYPE_CHECKING:
    import subprocess
    from types import TracebackType

API_KEY = "bench-key"
#: The route key of a status poll in the emulator's request counters.
POLL_ROUTE = "GET /generations/{id}"


class ApiClient:
    """
    A keep-alive HTTP/1.1 connection to an emulator (standard library only).

    :param url: ``http://HOST:PORT`` of the emulator.
    :param timeout: seconds for each request.
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def request(self, method: str, path: str, body: Any = None, api_key: str | None = API_KEY) -> Any:
        """
        Send one request; return the decoded JSON answer.

        :param method: HTTP method.
        :param path: path from the server root, e.g. ``/_emulator/stats``.
        :param body: JSON-ready body, or None.
        :param api_key: bearer key, or None for admin calls.
        :raises RuntimeError: on a status of 400 or more.
        """
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._conn.request(method, path, body=payload, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:200]!r}")
        return json.loads(data) if data else None


class EmulatorProcess:
    """
    An emulator subprocess, stopped on exit (and if this process dies).

    :param queued_seconds: how long each generation stays queued.
    :param dreaming_seconds: how long it then dreams: seconds, or a ``(min, max)`` range.
    """

    def __init__(
        self, queued_seconds: float = 1.0, dreaming_seconds: float | tuple[float, float] = 5.0
    ) -> None:
        self.queued_seconds = queued_seconds
        self.dreaming_seconds = dreaming_seconds
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.url = ""

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        """
        Start it and wait until it serves.

        :param timeout: seconds to wait for its ``LUMA_EMULATOR_URL=`` line.
        """
        dreaming = self.dreaming_seconds
        dreaming_arg = f"{dreaming[0]},{dreaming[1]}" if isinstance(dreaming, tuple) else str(dreaming)
        self.proc = spawn(
            [
                "-m",
                "airflow_provider_luma.testing",
                "--port",
                "0",
                "--api-key",
                API_KEY,
                "--queued-seconds",
                str(self.queued_seconds),
                "--dreaming-seconds",
                dreaming_arg,
            ]
        )
        self.base_url = LineReader(self.proc).expect("LUMA_EMULATOR_URL=", timeout)
        self.url = self.base_url.split("/dream-machine/", 1)[0]
        return self

    def stop(self) -> None:
        """Stop it (idempotent)."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The emulator's process id."""
        assert self.proc is not None
        return self.proc.pid

    def connection_env(self, conn_id: str = "luma_default") -> dict[str, str]:
        """
        The environment variable defining Airflow connection ``conn_id`` for this emulator.

        :param conn_id: the connection id.
        """
        value = json.dumps({"conn_type": "luma", "password": API_KEY, "host": self.base_url})
        return {f"AIRFLOW_CONN_{conn_id.upper()}": value}

    def api_path(self, path: str) -> str:
        """
        The server path of an API path, e.g. ``/generations/image``.

        :param path: the path relative to the API base URL.
        """
        return urlsplit(self.base_url).path + path

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """
        Call an admin endpoint.

        :param method: HTTP method.
        :param path: e.g. ``/_emulator/stats?generations=0``.
        :param body: JSON-ready body.
        """
        assert self.url, "start the emulator first"
        client = ApiClient(self.url)  # a new connection each time: an idle one may have been closed
        try:
            return client.request(method, path, body, api_key=None)
        finally:
            client.close()

    def stats(self) -> dict[str, Any]:
        """The emulator's counters (without the generations)."""
        stats: dict[str, Any] = self.admin("GET", "/_emulator/stats?generations=0")
        return stats

    def polls(self) -> int:
        """``GET /generations/{id}`` requests served so far."""
        return int(self.stats()["requests"].get(POLL_ROUTE, 0))

    def configure(self, **changes: Any) -> None:
        """
        Change settings of generations created from now on.

        :param changes: :class:`~airflow_provider_luma.testing.EmulatorConfig` fields.
        """
        self.admin("POST", "/_emulator/config", changes)

    def create_images(self, count: int, prompt: str = "a lighthouse at dawn") -> list[dict[str, Any]]:
        """
        Create ``count`` image generations over one keep-alive connection; return them.

        :param count: how many.
        :param prompt: their prompt.
        """
        client = ApiClient(self.url)
        try:
            path = self.api_path("/generations/image")
            body = {"prompt": prompt, "model": "photon-flash-1"}
            return [client.request("POST", path, body) for _ in range(count)]
        finally:
            client.close()
