"""The Luma emulator as a separate process, and a client for its admin endpoints."""

from __future__ import annotations

import re
import secrets
import sys
from typing import TYPE_CHECKING, Any

from luma_e2e.processes import ManagedProcess, clean_environ, loopback_session, wait_until

if TYPE_CHECKING:
    from pathlib import Path


class LumaEmulatorProcess:
    """
    ``python -m airflow_provider_luma.testing`` on a free port, plus its admin endpoints.

    :param log_dir: directory for its log (kept apart from Airflow's logs, which the secret scan
        searches: the emulator is Luma's side and knows the key).
    :param api_key: the only key it accepts.
    :param queued_seconds: how long a new generation stays queued.
    :param dreaming_seconds: how long it then dreams.
    :param host: the address to listen on.
    """

    def __init__(
        self,
        log_dir: Path,
        api_key: str,
        queued_seconds: float,
        dreaming_seconds: float,
        host: str = "127.0.0.1",
    ) -> None:
        self.api_key = api_key
        self.log_path = log_dir / "luma-emulator.log"
        argv = [sys.executable, "-m", "airflow_provider_luma.testing", "--host", host, "--port", "0"]
        argv += ["--api-key", api_key, "--queued-seconds", str(queued_seconds)]
        argv += ["--dreaming-seconds", str(dreaming_seconds)]
        control_token = secrets.token_urlsafe(24)
        env = {**clean_environ(), "PYTHONUNBUFFERED": "1", "LUMA_EMULATOR_CONTROL_TOKEN": control_token}
        self.process = ManagedProcess("luma-emulator", argv, env, self.log_path, cwd=log_dir)
        self.base_url: str = wait_until(self._announced_url, timeout=30, what="the emulator's URL line")
        self.root_url = self.base_url.split("/dream-machine/")[0]
        self.agents_base_url: str = wait_until(
            lambda: self._announced_url("LUMA_AGENTS_EMULATOR_URL"),
            timeout=30,
            what="its Agents API URL line",
        )
        self.http = loopback_session()
        self.http.headers["X-Luma-Emulator-Token"] = control_token  # the control routes need it

    def _announced_url(self, variable: str = "LUMA_EMULATOR_URL") -> str | None:
        self.process.check_running()
        match = re.search(rf"^{variable}=(\S+)$", self.log_path.read_text(errors="replace"), re.M)
        return match.group(1) if match else None

    # -- admin endpoints (with the control token) -------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``: requests per route, creates, generations."""
        response = self.http.get(f"{self.root_url}/_emulator/stats", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def configure(self, **changes: Any) -> None:
        """
        ``POST /_emulator/config`` with a partial config.

        :param changes: e.g. ``dreaming_seconds=20``.
        """
        self.http.post(f"{self.root_url}/_emulator/config", json=changes, timeout=10).raise_for_status()

    def generation(self, generation_id: str) -> dict[str, Any]:
        """
        A generation as Luma reports it (``GET /generations/{id}`` with the key), for the harness.

        :param generation_id: the id.
        """
        response = self.http.get(
            f"{self.base_url}/generations/{generation_id}",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        response.raise_for_status()
        return dict(response.json())

    def complete(self, generation_id: str) -> None:
        """
        ``POST /_emulator/generations/{id}/complete``: the generation completes now.

        :param generation_id: the id.
        """
        url = f"{self.root_url}/_emulator/generations/{generation_id}/complete"
        self.http.post(url, timeout=10).raise_for_status()

    def fail(self, generation_id: str, reason: str) -> None:
        """
        ``POST /_emulator/generations/{id}/fail``: the generation fails now, with ``reason``.

        :param generation_id: the id.
        :param reason: its ``failure_reason``.
        """
        url = f"{self.root_url}/_emulator/generations/{generation_id}/fail"
        self.http.post(url, json={"reason": reason}, timeout=10).raise_for_status()
