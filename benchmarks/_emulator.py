"""
The Luma emulator in a process of its own, so its CPU and memory never count against a client.

:class:`EmulatorProcess` serves a :class:`~airflow_provider_luma.testing.LumaEmulator` in a
:class:`~benchmarks._proc.Child` and talks to its admin endpoints (``/_emulator/...``) and API
with ``requests``, for the set-up of a benchmark, outside what it measures.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from benchmarks._proc import Child

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from types import TracebackType

API_KEY = "bench-key"
#: The route key of a status poll in the emulator's request counters.
POLL_ROUTE = "GET /generations/{id}"


def serve(parent: Connection, queued_seconds: float, dreaming_seconds: float | tuple[float, float]) -> None:
    """
    Be the emulator's process: serve, send the API's base URL and the control headers, and stop when
    the parent says so (or closes the pipe).

    :param parent: the pipe to the benchmark.
    :param queued_seconds: how long each generation stays queued.
    :param dreaming_seconds: how long it then dreams: seconds, or a ``(min, max)`` range.
    """
    from airflow_provider_luma.testing import EmulatorConfig, LumaEmulator

    config = EmulatorConfig(queued_seconds=queued_seconds, dreaming_seconds=dreaming_seconds)
    with LumaEmulator(api_key=API_KEY, config=config) as emulator:
        parent.send((emulator.base_url, emulator.control_headers))
        with contextlib.suppress(EOFError):  # the parent closed the pipe: it is gone
            parent.recv()


class EmulatorProcess:
    """
    An emulator in a child process, stopped on exit (and if this process dies).

    :param queued_seconds: how long each generation stays queued.
    :param dreaming_seconds: how long it then dreams: seconds, or a ``(min, max)`` range.
    """

    def __init__(
        self, queued_seconds: float = 1.0, dreaming_seconds: float | tuple[float, float] = 5.0
    ) -> None:
        self.child = Child(serve, queued_seconds, dreaming_seconds)
        self.base_url, self.control_headers = self.child.receive(60)
        self.url = self.base_url.split("/dream-machine/", 1)[0]
        self.pid = self.child.pid
        import requests  # here, not at the top: measured children import this module, not requests

        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"

    def stop(self) -> None:
        """Stop it (idempotent)."""
        self.session.close()
        self.child.stop()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def connection_env(self, conn_id: str = "luma_default") -> dict[str, str]:
        """
        The environment variable defining Airflow connection ``conn_id`` for this emulator.

        :param conn_id: the connection id.
        """
        # The benchmarks keep up to thousands of generations in flight on one key, more than Luma's
        # Build tier allows: the key's limits say so, as a user's on a higher tier would (creates
        # still wait for the key's room, read from the list, and pay for that read).
        limits = {family: {"in_flight": 100_000} for family in ("image", "video")}
        value = json.dumps(
            {"conn_type": "luma", "password": API_KEY, "host": self.base_url, "extra": {"limits": limits}}
        )
        return {f"AIRFLOW_CONN_{conn_id.upper()}": value}

    def api_path(self, path: str) -> str:
        """
        The server path of an API path, e.g. ``/generations/image``.

        :param path: the path relative to the API base URL.
        """
        return urlsplit(self.base_url).path + path

    def request(self, method: str, path: str, body: Any = None, api_key: str | None = API_KEY) -> Any:
        """
        Send one request; return the decoded JSON answer.

        :param method: HTTP method.
        :param path: path from the server root, e.g. ``/_emulator/stats``.
        :param body: JSON-ready body, or None.
        :param api_key: bearer key, or None for admin calls (which carry the control token).
        """
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else self.control_headers
        answer = self.session.request(method, self.url + path, json=body, headers=headers, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """
        Call an admin endpoint.

        :param method: HTTP method.
        :param path: e.g. ``/_emulator/stats?generations=0``.
        :param body: JSON-ready body.
        """
        return self.request(method, path, body, api_key=None)

    def polls(self) -> int:
        """``GET /generations/{id}`` requests served so far."""
        return int(self.admin("GET", "/_emulator/stats?generations=0")["requests"].get(POLL_ROUTE, 0))

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
        body = {"prompt": prompt, "model": "photon-flash-1"}
        return [self.request("POST", self.api_path("/generations/image"), body) for _ in range(count)]
