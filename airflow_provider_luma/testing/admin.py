"""
Control endpoints under ``/_emulator/``, for an emulator running as a subprocess.

Every one needs the emulator's control token in the :data:`CONTROL_TOKEN_HEADER` header, and
refuses (401) without it, whatever the origin: otherwise any web page a developer opens could
reconfigure or reset an emulator on loopback with a cross-site "simple" request (a ``text/plain``
POST needs no preflight). A custom header is never sent cross-site without a preflight, which the
emulator does not answer, and the token is random per emulator unless chosen.

* ``GET /_emulator/stats``: the counters and the generations of both APIs (``?generations=0``
  leaves them out)
* ``GET /_emulator/config`` and ``POST /_emulator/config`` (a JSON object of settings to change)
* ``POST /_emulator/reset``
* ``GET /_emulator/generations`` and ``GET /_emulator/agents/generations``
* ``GET /_emulator/agents/files``
* ``POST /_emulator/generations/{id}/complete`` and ``.../fail`` (body ``{"reason": ...}``, and for
  an Agents generation optionally ``"failure_code"``), for a generation of either API
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING

from starlette.routing import Route

from airflow_provider_luma.testing.handlers import json_response
from airflow_provider_luma.testing.routes import CONTROL_TOKEN_HEADER

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from airflow_provider_luma.testing.core import EmulatorCore


async def _json_object(request: Request) -> dict[str, object]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


class AdminHandlers:
    """
    The admin endpoints of one emulator.

    :param core: the emulator's state.
    :param control_token: the token every call must carry in :data:`CONTROL_TOKEN_HEADER`.
    """

    def __init__(self, core: EmulatorCore, control_token: str) -> None:
        self.core = core
        self._token = control_token.encode()

    def routes(self) -> list[Route]:
        """Return the admin routes, each refusing a call without the control token."""
        guarded = self._guarded
        return [
            Route("/_emulator/stats", guarded(self.stats), methods=["GET"]),
            Route("/_emulator/config", guarded(self.get_config), methods=["GET"]),
            Route("/_emulator/config", guarded(self.set_config), methods=["POST"]),
            Route("/_emulator/reset", guarded(self.reset), methods=["POST"]),
            Route("/_emulator/generations", guarded(self.generations), methods=["GET"]),
            Route("/_emulator/agents/generations", guarded(self.agents_generations), methods=["GET"]),
            Route("/_emulator/agents/files", guarded(self.agents_files), methods=["GET"]),
            Route("/_emulator/generations/{id}/complete", guarded(self.complete), methods=["POST"]),
            Route("/_emulator/generations/{id}/fail", guarded(self.fail), methods=["POST"]),
        ]

    def _guarded(
        self, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def checked(request: Request) -> Response:
            given = request.headers.get(CONTROL_TOKEN_HEADER, "").encode()
            if not hmac.compare_digest(given, self._token):
                detail = f"The emulator's control routes need its control token in {CONTROL_TOKEN_HEADER}"
                return json_response({"detail": detail}, 401)
            return await endpoint(request)

        return checked

    async def stats(self, request: Request) -> Response:
        """The counters and the generation objects (``?generations=0`` leaves these out)."""
        data = self.core.stats.snapshot().to_dict()
        generations = self.core.generation_dicts()
        agents_generations = self.core.agents_generation_dicts()
        data["generation_count"] = len(generations)
        data["agents_generation_count"] = len(agents_generations)
        if request.query_params.get("generations") not in ("0", "false"):
            data["generations"] = generations
            data["agents_generations"] = agents_generations
        return json_response(data)

    async def get_config(self, request: Request) -> Response:
        """The current settings."""
        return json_response(self.core.config.to_dict())

    async def set_config(self, request: Request) -> Response:
        """Change some settings; 400 with the reason if they are invalid."""
        try:
            changes = await _json_object(request)
            config = self.core.configure(**changes)
        except (ValueError, TypeError) as error:
            return json_response({"detail": str(error)}, 400)
        return json_response(config.to_dict())

    async def reset(self, request: Request) -> Response:
        """Back to the starting state."""
        self.core.reset()
        return json_response({"ok": True})

    async def generations(self, request: Request) -> Response:
        """Every live generation, oldest first."""
        return json_response(self.core.generation_dicts())

    async def agents_generations(self, request: Request) -> Response:
        """Every Agents API generation, oldest first."""
        return json_response(self.core.agents_generation_dicts())

    async def agents_files(self, request: Request) -> Response:
        """Every Agents API file (every owner's), oldest first."""
        return json_response(self.core.agents_file_dicts())

    async def complete(self, request: Request) -> Response:
        """Complete a generation now."""
        return self._force(request.path_params["id"], "completed", None)

    async def fail(self, request: Request) -> Response:
        """Fail a generation now, with ``reason`` (and an Agents one's ``failure_code``) from the body."""
        try:
            body = await _json_object(request)
        except ValueError as error:
            return json_response({"detail": str(error)}, 400)
        reason, code = body.get("reason"), body.get("failure_code")
        return self._force(
            request.path_params["id"],
            "failed",
            str(reason) if reason else None,
            str(code) if code is not None else None,
        )

    def _force(
        self, generation_id: str, state: str, reason: str | None, failure_code: str | None = None
    ) -> Response:
        try:
            self.core.force(generation_id, state, reason, failure_code)
        except KeyError:
            return json_response({"detail": "Generation not found"}, 404)
        except ValueError as error:
            return json_response({"detail": str(error)}, 400)
        return json_response({"ok": True})
