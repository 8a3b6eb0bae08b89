"""
:class:`LumaEmulator`: the emulator as a real HTTP server on a background thread.

uvicorn (httptools, uvloop when installed, no access log, no logging setup of its own) serves
the app of :mod:`.app` on a socket bound before the thread starts, so ``port=0`` gets a free
port that is known at once. Starlette and uvicorn are imported only by :meth:`LumaEmulator.start`.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.testing.agents_catalog import AGENTS_PREFIX
from airflow_provider_luma.testing.agents_files import OWN
from airflow_provider_luma.testing.catalog import API_PREFIX
from airflow_provider_luma.testing.config import EmulatorConfig
from airflow_provider_luma.testing.core import EmulatorCore
from airflow_provider_luma.testing.routes import CONTROL_TOKEN_HEADER

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_provider_luma.testing.stats import StatsSnapshot


log = logging.getLogger(__name__)


def beyond_loopback(host: str) -> bool:
    """
    Whether listening on ``host`` lets other machines connect (a wildcard, or any non-loopback address).

    :param host: the address to listen on, or a name (looked up).
    """
    try:
        addresses = [host] if host else ["0.0.0.0"]
        ipaddress.ip_address(addresses[0])
    except ValueError:  # a name: what it resolves to
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    return not all(ipaddress.ip_address(address.split("%", 1)[0]).is_loopback for address in addresses)


def _client_host(host: str) -> str:
    """The host clients should use: wildcard addresses become loopback; IPv6 gets brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class LumaEmulator:
    """
    A Luma API emulator serving real HTTP: the Dream Machine API (:attr:`base_url`) and the Agents
    API (:attr:`agents_base_url`), one account behind both (one key, one balance, one set of
    settings, faults and stats).

    :param api_key: the only API key the emulator accepts.
    :param config: its settings (default: :class:`~.config.EmulatorConfig()`); :meth:`reset`
        returns to them.
    :param host: the address to listen on.
    :param port: the port to listen on; 0 picks a free one.
    :param control_token: the token the ``/_emulator/*`` control routes need (header
        ``X-Luma-Emulator-Token``); default: a random one, see :attr:`control_token`.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        control_token: str | None = None,
    ) -> None:
        self._core = EmulatorCore(api_key, config or EmulatorConfig())
        self._control_token = control_token or secrets.token_urlsafe(24)
        self.host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LumaEmulator {state} at {self.url}>"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> LumaEmulator:
        """
        Start serving on a background thread; return when it accepts connections.

        :param timeout: seconds to wait for the server to be ready.
        """
        if self.running:
            return self
        import uvicorn

        from airflow_provider_luma.testing.app import build_app

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        if beyond_loopback(self.host):
            log.warning(
                "The Luma emulator listens on %s:%d, beyond loopback: its API and assets have no real "
                "protection (one API key, plain HTTP), and its /_emulator/* control endpoints only their "
                "token, sent in the clear. Listen on 127.0.0.1 unless other hosts must reach it, and only "
                "on a network you trust.",
                self.host or "0.0.0.0",
                self._port,
            )
        self._core.own_url = self.url
        self._core.callbacks.reopen()
        config = uvicorn.Config(
            build_app(self._core, self._control_token),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            backlog=4096,
            timeout_keep_alive=20,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="luma-emulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"the Luma emulator did not start on {self.host}:{self._port}")
            time.sleep(0.005)
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """
        Stop serving and wait for the server thread to end (idempotent).

        :param timeout: seconds to wait for a graceful stop before forcing it.
        """
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._core.callbacks.close()
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    def __enter__(self) -> LumaEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (the real one once started with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: where assets and admin endpoints live."""
        return f"http://{_client_host(self.host)}:{self._port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/dream-machine/v1``: the API base URL to give clients."""
        return self.url + API_PREFIX

    @property
    def agents_base_url(self) -> str:
        """``http://HOST:PORT/agents/v1``: the Agents API base URL to give clients (``luma_agents``)."""
        return self.url + AGENTS_PREFIX

    @property
    def api_key(self) -> str:
        """The API key the emulator accepts."""
        return self._core.api_key

    @property
    def control_token(self) -> str:
        """The token its ``/_emulator/*`` control routes need, in the ``X-Luma-Emulator-Token`` header."""
        return self._control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """The headers a call to a control route carries: ``{"X-Luma-Emulator-Token": token}``."""
        return {CONTROL_TOKEN_HEADER: self._control_token}

    # -- control --------------------------------------------------------------------------------

    @property
    def config(self) -> EmulatorConfig:
        """The current settings."""
        return self._core.config

    def configure(self, **changes: Any) -> EmulatorConfig:
        """
        Change some settings now; see :meth:`.core.EmulatorCore.configure`.

        :param changes: setting names of :class:`~.config.EmulatorConfig` and their values.
        """
        return self._core.configure(**changes)

    def reset(self) -> None:
        """
        Back to the state right after start: the constructor's settings, no generations (of
        either API), no Agents files, zero stats.
        """
        self._core.reset()

    @property
    def stats(self) -> StatsSnapshot:
        """A snapshot of the counters (requests per route, creates of both APIs, last requests, faults)."""
        return self._core.stats.snapshot()

    @property
    def generations(self) -> list[dict[str, Any]]:
        """Every live generation object as the API shows it now, oldest first."""
        return self._core.generation_dicts()

    def generation(self, generation_id: str) -> dict[str, Any]:
        """
        Return one generation object as the API shows it now.

        :param generation_id: the generation id.
        """
        for generation in self.generations:
            if generation["id"] == generation_id:
                return generation
        raise KeyError(f"no generation {generation_id}")

    @property
    def agents_generations(self) -> list[dict[str, Any]]:
        """Every Agents API generation object as the API shows it now, oldest first."""
        return self._core.agents_generation_dicts()

    def agents_generation(self, generation_id: str) -> dict[str, Any]:
        """
        Return one Agents API generation object as the API shows it now.

        :param generation_id: the generation id.
        """
        for generation in self.agents_generations:
            if generation["id"] == generation_id:
                return generation
        raise KeyError(f"no Agents generation {generation_id}")

    @property
    def agents_files(self) -> list[dict[str, Any]]:
        """Every Agents API file object of the emulator's key, oldest first (deleted ones too)."""
        return self._core.agents_file_dicts(OWN)

    def plant_agents_file(
        self, data: bytes, mime_type: str, purpose: str = "input", owner: str = "another-client"
    ) -> dict[str, Any]:
        """
        Add an Agents API file, uploaded and completed, owned by another API client by default:
        one the emulator's key cannot see or reference (for tests of that refusal).

        :param data: its bytes (checked as an upload's are: a bad image ends ``failed``).
        :param mime_type: their MIME type.
        :param purpose: ``input`` or ``reference``.
        :param owner: whose it is; ``"own"`` makes it the emulator's key's.
        :return: the file object.
        """
        from airflow_provider_luma.testing.agents_validation import FileSpec, check_mime_type  # pydantic

        check_mime_type(mime_type)
        spec = FileSpec(mime_type=mime_type, size_bytes=len(data), purpose=purpose)
        record = self._core.create_agents_file(spec, data, owner)
        return record.to_dict(time.monotonic(), datetime.now(timezone.utc))

    def complete(self, generation_id: str) -> None:
        """
        Complete a generation now (a Dream Machine one, or an Agents one).

        :param generation_id: the generation id.
        :raises KeyError: if there is no such generation.
        """
        self._core.force(generation_id, "completed")

    def fail(self, generation_id: str, reason: str | None = None, failure_code: str | None = None) -> None:
        """
        Fail a generation now (its credits are refunded): a Dream Machine one, or an Agents one.

        :param generation_id: the generation id.
        :param reason: its ``failure_reason`` (default: ``"Job failed"`` for a Dream Machine
            generation, the ``failure_code``'s usual reason for an Agents one).
        :param failure_code: an Agents generation's ``failure_code``, one of
            :data:`~.agents_catalog.FAILURE_CODES` (default ``generation_failed``).
        :raises KeyError: if there is no such generation.
        """
        self._core.force(generation_id, "failed", reason, failure_code)
