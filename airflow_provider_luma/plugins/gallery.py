"""
The "Luma" gallery plugin: a page in the Airflow UI for a DAG run and one for a task instance.

Registered as an ``airflow.plugins`` entry point (``pyproject.toml``), so Airflow loads it wherever
the provider is installed, with its default settings (a plugin in the provider info would load
only with ``[core] lazy_discover_providers = False``). The module is cheap to import: plugins are
loaded by every Airflow process that asks for them, and only the api-server serves the pages, so
their app is built on its first request.
On Airflow before 3.1 (no external views, no FastAPI apps) the plugin adds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

#: Where the app is mounted on the api-server.
URL_PREFIX = "/luma"


class BuiltOnFirstRequest:
    """
    An ASGI app that builds the real one on its first request.

    Starlette's ``Mount`` needs an app object when the plugin class is defined; building the
    FastAPI app then would import the api-server's security and database layers into every
    process that loads plugins (scheduler, workers, DAG processor).

    :param factory: returns the real app.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if self._app is None:
            self._app = self._factory()
        await self._app(scope, receive, send)


def _gallery_app() -> Any:
    from airflow_provider_luma.plugins.gallery_app import create_gallery_app

    return create_gallery_app()


class LumaGalleryPlugin(AirflowPlugin):
    """Adds a "Luma" tab to DAG runs and task instances showing their generations."""

    name = "luma_gallery"
    if AIRFLOW_V_3_1_PLUS:
        fastapi_apps = [{"app": BuiltOnFirstRequest(_gallery_app), "url_prefix": URL_PREFIX, "name": "Luma"}]
        # Relative hrefs: the UI resolves them against its base URL and shows them in a frame.
        external_views = [
            {
                "name": "Luma",
                "href": "luma/runs/{DAG_ID}/{RUN_ID}",
                "destination": "dag_run",
                "url_route": "luma_run_gallery",
            },
            {
                "name": "Luma",
                "href": "luma/runs/{DAG_ID}/{RUN_ID}/tasks/{TASK_ID}/{MAP_INDEX}",
                "destination": "task_instance",
                "url_route": "luma_task_gallery",
            },
        ]
