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


OUT = "file:///data/luma/out/"


@pytest.mark.parametrize(
    ("return_value", "output_path", "served"),
    [
        pytest.param(f"{OUT}g-1.png", OUT, True, id="right in the output folder"),
        pytest.param("/data/luma/out/g-1.webp", OUT, True, id="a bare absolute path in it"),
        pytest.param("file:///data/luma/one.jpg", "file:///data/luma/one.jpg", True, id="the output file"),
        pytest.param("s3://bucket/prefix/g-1.mp4", "s3://bucket/prefix/", True, id="an object store"),
        pytest.param("file:///etc/secret.png", OUT, False, id="outside the output folder"),
        pytest.param(f"{OUT}sub/g-1.png", OUT, False, id="below the output folder"),
        pytest.param(f"{OUT}../g-1.png", OUT, False, id="dot-dot out of it"),
        pytest.param("file:///data/luma/out/./g-1.png", OUT, False, id="a dot segment"),
        pytest.param("file:///data/luma//out/g-1.png", OUT, False, id="an empty segment"),
        pytest.param("out/g-1.png", OUT, False, id="a relative path"),
        pytest.param("../out/g-1.png", OUT, False, id="a relative path up"),
        pytest.param("s3://aws_default@bucket/prefix/g-1.png", "s3://bucket/prefix/", False, id="user part"),
        pytest.param("s3://conn@bucket/prefix/g-1.png", "s3://conn@bucket/prefix/", False, id="both named"),
        pytest.param("s3://other/prefix/g-1.png", "s3://bucket/prefix/", False, id="another bucket"),
        pytest.param(f"{OUT}g-1.txt", OUT, False, id="not an image or video"),
        pytest.param(f"{OUT}g-1.png?x=1", OUT, False, id="a query"),
        pytest.param("https://cdn.example/g-1.png", "https://cdn.example/", False, id="a web URL"),
        pytest.param(f"{OUT}g-1.png", None, False, id="a task without output_path"),
        pytest.param(f"{OUT}g-1.png", "out/", False, id="a relative output_path"),
        pytest.param({"path": f"{OUT}g-1.png"}, OUT, False, id="not a string"),
    ],
)
def test_only_a_copy_the_task_itself_wrote_is_served(return_value, output_path, served):
    from airflow_provider_luma.plugins.gallery_data import served_copy

    assert served_copy(return_value, output_path) == (return_value if served else None)


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")
def test_planted_xcoms_of_a_real_run_show_no_link_and_no_stored_copy(run_dag, emulator, tmp_path):
    """A real copy is served; what anyone writes into the task's XComs afterwards is not."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from airflow_provider_luma.plugins.gallery_data import read_generations

    out = tmp_path / "out"
    result = run_dag("luma_test_image_copy_worker", {"output_path": f"file://{out}/"})
    assert result.state == "success"
    run = {"dag_id": result.dag_run.dag_id, "run_id": result.dag_run.run_id, "task_id": "generate"}
    stored, generation = result.xcom("generate"), result.xcom("generate", "generation")

    def card():
        with create_session() as session:
            (only,) = read_generations(session, run["dag_id"], run["run_id"])
            return only

    assert card().stored_path == stored  # the run's own copy, from its rendered output_path
    assert card().asset_url == generation["assets"]["image"]
    assert card().cost == 0.0073  # what the task said it cost (photon-1's published price)
    for planted_cost in ("free", -1, True, {"usd": 1}):
        with create_session() as session:
            XComModel.set("cost", planted_cost, **run, session=session)
        assert card().cost is None, planted_cost
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"not for the gallery")
    for planted in (
        f"file://{outside}",
        f"file://{out}/../secret.png",
        "secret.png",
        "s3://conn@bucket/x.png",
    ):
        with create_session() as session:
            XComModel.set("return_value", planted, **run, session=session)
        assert card().stored_path is None, planted
    for url in ("javascript:fetch('/api/v2/connections')", "data:image/png;base64,AAAA", "file:///etc/x.png"):
        with create_session() as session:
            XComModel.set("generation", {**generation, "assets": {"image": url}}, **run, session=session)
        assert card().asset_url is None, url


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")
def test_a_batch_shows_a_card_per_item_with_its_cost_and_planted_items_are_left_out(run_dag, emulator):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from airflow_provider_luma.plugins.gallery_data import read_generations

    result = run_dag("luma_test_batch_worker")
    assert result.state == "success"
    run = {"dag_id": result.dag_run.dag_id, "run_id": result.dag_run.run_id}
    manifest = result.xcom("images", "batch")

    def cards():
        with create_session() as session:
            return read_generations(session, run["dag_id"], run["run_id"])

    shown = cards()
    assert [card.label for card in shown] == [f"images requests[{i}]" for i in range(len(manifest["items"]))]
    for card, item in zip(shown, manifest["items"], strict=True):
        assert (card.generation["id"], card.asset_url) == (item["generation_id"], item["url"])
        assert card.cost == item["cost"] > 0
        assert card.stored_path is None  # a batch's copies are not served
    hostile = [
        {"index": 0, "state": "completed", "url": "javascript:alert(1)", "cost": "free"},
        {"index": "1", "state": "completed"},
        {"index": 2, "state": "<script>"},
        "not an item",
    ]
    with create_session() as session:
        XComModel.set("batch", {"items": hostile}, task_id="images", **run, session=session)
    (planted,) = cards()
    assert (planted.asset_url, planted.cost, planted.thumbnail_url) == (None, None, None)
