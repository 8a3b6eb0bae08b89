"""
A hostile API's asset URL is never returned, pushed or linked: the emulator's ``asset_url`` fault
answers completed generations with ``javascript:`` and ``data:`` URLs, through real ``dag.test()``
runs of the operator and the sensor, deferrable and in the worker (the trigger's side is in
``tests/test_trigger.py::test_end_task_never_ends_a_task_with_a_refused_url``).
"""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_luma.asset_urls import shown_refusal, web_url
from airflow_provider_luma.exceptions import LumaUnsafeAssetUrlError
from airflow_provider_luma.generations import checked_asset_url
from airflow_provider_luma.hooks.luma import LumaHook
from airflow_provider_luma.links import LumaGenerationLink
from airflow_provider_luma.redaction import redacted
from airflow_provider_luma.testing import FaultRule
from tests.conftest import API_KEY, plain_text, without_mask_secret_requests

MODES = ["deferrable", "worker"]
JAVASCRIPT = "javascript:fetch('/api/v2/connections')"
DATA = "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="
EMULATOR = "http://127.0.0.1:8765/dream-machine/v1"
HOSTILE = [JAVASCRIPT, DATA]


def completed(url: object) -> dict:
    return {"id": "g-1", "state": "completed", "assets": {"image": url}}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (JAVASCRIPT, "its scheme 'javascript' is not allowed for assets (allowed: https or the connection's"),
        (DATA, "its scheme 'data' is not allowed"),
        ("JavaScript:alert(1)", "its scheme 'javascript' is not allowed"),
        (" javascript:alert(1)", "spaces or control characters"),  # a browser drops the space
        ("java\tscript:alert(1)", "spaces or control characters"),  # and the tab
        ("file:///etc/passwd", "its scheme 'file' is not allowed"),
        ("http://cdn.example/x.png", "its scheme 'http' is not allowed"),
        ("http://127.0.0.1:8766/assets/x.png", "its scheme 'http' is not allowed"),  # another port
        ("//cdn.example/x.png", "its scheme '(none)' is not allowed"),
        ("/assets/x.png", "its scheme '(none)' is not allowed"),
        ("https:///x.png", "it has no host"),
        ("https://user:secret@cdn.example/x.png", "it carries credentials"),
        ("https://[::1/x.png", "not a valid URL"),
        (["https://cdn.example/x.png"], "it is a list, not a URL"),
    ],
)
def test_only_https_or_the_connections_origin_may_be_returned(url, reason):
    refused = shown_refusal(url, EMULATOR)
    assert refused is not None
    assert reason in refused
    assert web_url(url) is None or url.startswith("http://")  # the link and gallery: http(s) only
    if isinstance(url, str):
        with pytest.raises(LumaUnsafeAssetUrlError) as caught:
            checked_asset_url(completed(url), EMULATOR)
        assert "secret" not in str(caught.value)
        assert redacted(url) in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://cdn.example/x.png?sig=1", "HTTPS://cdn.example/x.png", "http://127.0.0.1:8765/assets/a.png"],
)
def test_https_and_the_connections_own_origin_are_returned_as_they_are(url):
    assert shown_refusal(url, EMULATOR) is None
    assert checked_asset_url(completed(url), EMULATOR) == url
    assert web_url(url) == url


def test_a_refused_url_is_cut_short_in_the_error():
    url = "data:image/png;base64," + "A" * 100_000
    with pytest.raises(LumaUnsafeAssetUrlError) as caught:
        checked_asset_url(completed(url), None)
    assert len(str(caught.value)) < 600


def assert_nothing_returned(result, task_id: str, url: str, logs: str) -> None:
    assert result.state == "failed"
    assert result.xcom(task_id) is None  # no return_value
    generation = result.xcom(task_id, "generation")
    assert generation is None or generation.get("assets") in (None, {}) or url not in str(generation)
    assert url not in str(result.all_xcom_values())
    assert f"completed with the asset URL {url}, which was refused" in plain_text(logs)
    assert API_KEY not in without_mask_secret_requests(logs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("url", HOSTILE)
def test_the_operator_fails_without_a_retry_and_returns_nothing(run_dag, emulator, read_logs, mode, url):
    emulator.configure(faults=[FaultRule(route="GET /generations/*", kind="asset_url", url=url)])
    result = run_dag(f"luma_test_image_url_{mode}")
    assert_nothing_returned(result, "generate", url, read_logs())
    assert result.task_state("generate") == "failed"  # final: its one retry was not used
    assert emulator.stats.creates == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("url", HOSTILE)
def test_the_sensor_fails_and_returns_nothing(run_dag, emulator, read_logs, mode, url):
    body = {"generation_type": "image", "model": "photon-1", "prompt": "a quay"}
    generation = LumaHook().create_image(body)
    emulator.configure(faults=[FaultRule(route="GET /generations/*", kind="asset_url", url=url)])
    result = run_dag(f"luma_test_sensor_{mode}", {"generation_id": generation["id"]})
    assert_nothing_returned(result, "wait", url, read_logs())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (JAVASCRIPT, ""),
        (DATA, ""),
        ("file:///etc/passwd", ""),
        ("https://cdn.example/a.png", "https://cdn.example/a.png"),
    ],
)
def test_the_extra_link_gives_only_http_urls_whatever_the_xcom_holds(run_dag, emulator, url, shown):
    """A task pushes any ``generation`` it likes; the "Luma asset" link reads it."""
    result = run_dag("luma_test_planted_link", {"asset_url": url})
    assert result.state == "success"
    if AIRFLOW_V_3_0_PLUS:  # the worker computes the link at the task's end; the UI shows that XCom
        assert result.xcom("plant", "_link_LumaGenerationLink") == shown
    else:  # the webserver asks the link, which reads the XCom from the database
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            run = {"dag_id": "luma_test_planted_link", "run_id": result.dag_run.run_id}
            ti_key = session.query(TaskInstance).filter_by(**run, task_id="plant").one().key
        assert LumaGenerationLink().get_link(None, ti_key=ti_key) == shown
