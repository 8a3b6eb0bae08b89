"""Assembles the emulator's ASGI application from its routes and middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from airflow_provider_luma.testing.admin import AdminHandlers
from airflow_provider_luma.testing.agents_handlers import AgentsHandlers
from airflow_provider_luma.testing.agents_outputs import AgentsStorageHandlers
from airflow_provider_luma.testing.asset_routes import AssetHandlers
from airflow_provider_luma.testing.handlers import ApiHandlers, json_response
from airflow_provider_luma.testing.middleware import EmulatorMiddleware

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from airflow_provider_luma.testing.core import EmulatorCore


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer JSON, as FastAPI does."""
    assert isinstance(exc, HTTPException)
    return json_response({"detail": exc.detail}, exc.status_code, exc.headers)


def build_app(core: EmulatorCore, control_token: str) -> Any:
    """
    Return the ASGI app serving both APIs (Dream Machine, Agents), the assets, the Agents uploads
    and the admin endpoints of ``core``.

    :param core: the emulator's state.
    :param control_token: the token the admin endpoints need.
    """
    admin = AdminHandlers(core, control_token)
    routes = [
        *ApiHandlers(core).routes(),
        *AgentsHandlers(core).routes(),
        *AssetHandlers(core).routes(),
        *AgentsStorageHandlers(core).routes(),
        *admin.routes(),
    ]
    web = Starlette(routes=routes, exception_handlers={404: _http_error, 405: _http_error})
    return EmulatorMiddleware(web, core)
