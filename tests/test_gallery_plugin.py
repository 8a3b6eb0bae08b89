"""
The gallery plugin as Airflow finds it: an ``airflow.plugins`` entry point, loaded with Airflow's
default settings (and once, not twice, with eager provider discovery), cheap to import, never
imported by DAG parsing, and empty before Airflow 3.1.

Its pages (auth, thumbnails, rendering in a browser) run against a real api-server in
``tests/e2e/test_e2e_5_review_and_gallery.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

from airflow_provider_luma import get_provider_info
from tests.airflow_version import PLUGINS_MANAGER_IMPORTS_FASTAPI
from tests.conftest import DAGS_FOLDER

AIRFLOW = str(Path(sys.executable).parent / "airflow")
PLUGIN_CLASS = "airflow_provider_luma.plugins.gallery.LumaGalleryPlugin"


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def airflow_plugins(**env: str) -> dict[str, dict]:
    """``airflow plugins`` as a user runs it: the plugins it lists, by name."""
    environment = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS"}
    listed = subprocess.run(
        [AIRFLOW, "plugins", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        env={**environment, **env},
    )
    # Airflow 3.0 prints log lines to stdout before the JSON (one line).
    [listing] = [line for line in listed.stdout.splitlines() if line.startswith("[{")]
    return {plugin["name"]: plugin for plugin in json.loads(listing)}


def test_the_plugin_is_an_entry_point_not_a_provider_plugin():
    from importlib.metadata import entry_points

    [entry_point] = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "luma_gallery"]
    assert entry_point.value == PLUGIN_CLASS.replace(".LumaGalleryPlugin", ":LumaGalleryPlugin")
    # Registered there too, it would be loaded twice with eager discovery: Airflow skips the
    # second and reports "Plugin 'luma_gallery' already registered" as an import error.
    assert "plugins" not in get_provider_info()


@pytest.mark.parametrize("lazy_discovery", [None, "False"])
def test_airflow_loads_the_plugin_with_its_default_settings(airflow_db, lazy_discovery):
    """Airflow's defaults (lazy provider discovery); with eager discovery it is still loaded once."""
    setting = {} if lazy_discovery is None else {"AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": lazy_discovery}
    gallery = airflow_plugins(**setting)["luma_gallery"]
    if AIRFLOW_V_3_1_PLUS:
        assert {view["destination"] for view in gallery["external_views"]} == {"dag_run", "task_instance"}
        assert [app["url_prefix"] for app in gallery["fastapi_apps"]] == ["/luma"]
    else:  # Airflow 2.11 and 3.0 have no external views: the plugin adds nothing there
        assert not gallery.get("external_views")
        assert not gallery.get("fastapi_apps")


@pytest.mark.skipif(
    PLUGINS_MANAGER_IMPORTS_FASTAPI, reason="Airflow 3.0's plugins manager imports FastAPI itself"
)
def test_importing_the_plugin_loads_no_web_framework():
    loaded = run_python(
        "import sys, airflow_provider_luma.plugins.gallery\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')"
        " or m.startswith('airflow.api_fastapi')))"
    )
    assert loaded == "[]"


def test_parsing_the_dags_never_imports_the_plugin(airflow_db):
    imported = run_python(
        "import sys\n"
        "try:\n    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n    from airflow.models.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})\n"
        "assert bag.dags and not bag.import_errors, bag.import_errors\n"
        "print(any(m.startswith('airflow_provider_luma.plugins') for m in sys.modules))"
    )
    assert imported.splitlines()[-1] == "False"


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")
def test_the_task_view_of_an_unmapped_task_is_its_map_index_minus_one():
    """Airflow's UI leaves ``{MAP_INDEX}`` in the view's href on an unmapped task's page."""
    from airflow_provider_luma.plugins.gallery_app import _map_index

    assert _map_index("{MAP_INDEX}") == -1
    assert _map_index("-1") == -1
    assert _map_index("3") == 3
