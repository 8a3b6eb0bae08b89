"""
The gallery plugin as Airflow finds it: registered in the provider info, found by Airflow's plugin
manager, cheap to import, never imported by DAG parsing, and empty before Airflow 3.1.

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
from tests.conftest import DAGS_FOLDER

AIRFLOW = str(Path(sys.executable).parent / "airflow")
PLUGIN_CLASS = "airflow_provider_luma.plugins.gallery.LumaGalleryPlugin"


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_provider_info_registers_the_plugin_class():
    assert get_provider_info()["plugins"] == [{"name": "luma_gallery", "plugin-class": PLUGIN_CLASS}]


def test_airflow_finds_the_plugin_through_the_provider(airflow_db):
    # Airflow loads the plugins of providers when it discovers providers eagerly.
    env = {**os.environ, "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False"}
    listed = subprocess.run(
        [AIRFLOW, "plugins", "--output", "json"], capture_output=True, text=True, check=True, env=env
    )
    plugins = {plugin["name"]: plugin for plugin in json.loads(listed.stdout)}
    gallery = plugins["luma_gallery"]
    if AIRFLOW_V_3_1_PLUS:
        assert {view["destination"] for view in gallery["external_views"]} == {"dag_run", "task_instance"}
        assert [app["url_prefix"] for app in gallery["fastapi_apps"]] == ["/luma"]
    else:  # Airflow 2.11 and 3.0 have no external views: the plugin adds nothing there
        assert not gallery.get("external_views")
        assert not gallery.get("fastapi_apps")


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
