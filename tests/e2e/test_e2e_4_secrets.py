"""
The API key stays in the connection: nowhere in triggers, XCom, rendered fields, or any log.

Runs last, so that it searches what every earlier scenario left behind.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from luma_e2e.evidence import files_containing, table_text, whole_database_text
from luma_e2e.settings import API_KEY, IMAGE_DAG

if TYPE_CHECKING:
    from luma_e2e.scenarios import ImageRun
    from luma_e2e.stack import AirflowStack

#: The trigger that waits on a worker's generation, and the one a task starts on (Airflow 3.3+).
WAIT_TRIGGER = "airflow_provider_luma.triggers.luma.LumaGenerationTrigger"
START_TRIGGER = "airflow_provider_luma.triggers.luma.LumaGenerateTrigger"
#: The key, and its distinctive tail (catches a truncated or half-masked copy).
KEY_PARTS = (API_KEY, API_KEY[-12:])


def assert_no_key(text: str, where: str) -> None:
    """
    Fail if ``text`` holds the API key or its tail.

    :param text: what to search.
    :param where: what it is, for the message.
    """
    leaked = [part for part in KEY_PARTS if part in text]
    assert not leaked, f"the API key ({leaked}) appears in {where}"


def test_trigger_rows_carry_only_the_connection_id(
    image_run: ImageRun, observed_triggers: list[dict[str, Any]]
) -> None:
    rows: dict[str, list[dict[str, Any]]] = {WAIT_TRIGGER: [], START_TRIGGER: []}
    for row in observed_triggers:
        if row["classpath"] in rows:
            assert_no_key(row["kwargs_raw"], f"trigger {row['id']} (stored)")
            assert_no_key(row["kwargs_json"], f"trigger {row['id']} (decrypted)")
            kwargs = json.loads(row["kwargs_json"])
            kwargs = kwargs.get("__var", kwargs)  # Airflow's serialization may wrap the dict
            assert kwargs["luma_conn_id"] == "luma_default"
            rows[row["classpath"]].append(kwargs)
    # Both kinds were searched: a worker's waits carry the generation id, a started task its request.
    assert {"generation_id", "poll_interval", "end_time"} <= set(rows[WAIT_TRIGGER][0]), rows
    # The example's first task: its trigger holds the parameters as written, rendered on the triggerer.
    assert {"kind": "image", "prompt": "{{ params.prompt }}"}.items() <= rows[START_TRIGGER][0].items(), rows


def test_key_is_not_in_xcom_rendered_fields_or_anywhere_in_the_database(
    stack: AirflowStack, image_run: ImageRun
) -> None:
    xcom, rendered = (
        table_text(stack.db_path, "xcom"),
        table_text(stack.db_path, "rendered_task_instance_fields"),
    )
    assert image_run.deferral.generation_id in xcom  # the search does look at the right rows
    assert "lighthouse" in rendered.lower()  # the example's rendered prompt
    assert_no_key(xcom, "the xcom table")
    assert_no_key(rendered, "the rendered_task_instance_fields table")
    assert_no_key(whole_database_text(stack.db_path), "the metadata database")
    # Rendered fields are written by a worker: the variant, whose prompt uses XCom, starts in one.
    ti = stack.api.task_instance(IMAGE_DAG, image_run.run_id, "styled_variant")
    assert ti["rendered_fields"]
    assert_no_key(json.dumps(ti["rendered_fields"]), "the REST API's rendered fields")


def test_key_is_not_in_any_task_triggerer_or_process_log(stack: AirflowStack, image_run: ImageRun) -> None:
    logs = stack.log_files()
    names = {path.name for path in logs}
    assert {"scheduler.log", "triggerer.log", "api-server.log", "dag-processor.log"} <= names
    task_logs = [path for path in logs if "dag_id=" in str(path)]
    assert len(task_logs) >= 30, task_logs  # every scenario's task logs are searched
    assert any(image_run.deferral.generation_id.encode() in path.read_bytes() for path in task_logs)
    for part in KEY_PARTS:
        assert files_containing(logs, part) == []
    log = stack.api.task_log(IMAGE_DAG, image_run.run_id, "text_to_image")
    assert "Trigger fired event" in log  # the triggerer's part of the log, as the UI shows it
    assert image_run.deferral.generation_id in log
    assert_no_key(log, "the task log served by the REST API")
