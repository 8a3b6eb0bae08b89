"""
Luma's Agents API through the operators, in real DAG runs (``dag.test()``) against the emulator's
Agents API: every generation type in a worker and deferred (on Airflow 3.3+ the plain tasks start
on the triggerer), each copied by ``output_path``; a task on the wrong connection; a lost create.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_luma.testing import FaultRule

TYPES = ("image", "image_edit", "layering", "video", "video_reframe", "video_edit")


@pytest.mark.parametrize("where", ["worker", "deferred"])
def test_every_agents_generation_type_runs_and_is_stored(run_dag, emulator, tmp_path, where):
    result = run_dag(f"luma_test_agents_{where}", conf={"out": str(tmp_path)})

    assert {task: result.task_state(task) for task in TYPES} == dict.fromkeys(TYPES, "success")
    made = {g["id"]: g for g in emulator.agents_generations}
    # A batch of two, and @task.luma_image (the function's parameters, the decorator's model).
    batch = result.xcom("batch", key="batch")
    assert [item["state"] for item in batch["items"]] == ["completed", "completed"]
    stored_items = [Path(path.removeprefix("file://")) for path in result.xcom("batch")]
    assert all(path.stat().st_size > 0 for path in stored_items)
    drawn = made[result.xcom("taskflow", key="generation_id")]
    assert (drawn["type"], drawn["model"], drawn["state"]) == ("image", "uni-1-max", "completed")
    others = {item["generation_id"] for item in batch["items"]} | {drawn["id"]}
    assert [made[i]["type"] for i in others] == ["image"] * 3
    # The rest: one generation of each type (paid once).
    made = {i: g for i, g in made.items() if i not in others}
    assert sorted(g["type"] for g in made.values()) == sorted(TYPES)
    # The sensor waited on the image and returned its URL.
    assert result.xcom("sensor") == made[result.xcom("image", key="generation_id")]["output"][0]["url"]
    assert emulator.stats.creates == 0  # nothing went to the Dream Machine API
    for task in TYPES:
        generation_id = result.xcom(task, key="generation_id")
        generation = made[generation_id]
        assert generation["type"] == task
        assert generation["state"] == "completed"
        stored = result.xcom(task)  # return_value: the stored path(s)
        paths = stored if task == "layering" else [stored]
        assert len(paths) == len(generation["output"])
        for number, path in enumerate(paths, start=1):
            file = Path(path.removeprefix("file://"))
            name = generation_id if task != "layering" else f"{generation_id}-{number}"
            assert file.parent == tmp_path
            assert file.stem == name
            assert file.stat().st_size > 0
    assert len(made[result.xcom("layering", key="generation_id")]["output"]) > 1
    image, edit = (
        made[result.xcom("image", key="generation_id")],
        made[result.xcom("image_edit", key="generation_id")],
    )
    assert edit["model"] == "uni-1-max"
    assert image["model"] == "uni-1"


def test_a_model_of_the_other_api_fails_before_anything_is_sent(run_dag, emulator, read_logs):
    result = run_dag("luma_test_agents_wrong_connection")

    assert result.task_state("image") == "failed"
    assert emulator.stats.creates == 0
    assert emulator.agents_generations == []
    logs = read_logs()
    assert "Model 'uni-1' is served by Luma's Agents API" in logs
    assert "'luma_agents'" in logs


def test_a_lost_agents_create_is_never_sent_again_and_names_its_request(run_dag, emulator, read_logs):
    """The Agents API lists no generations: a create whose answer was lost cannot be looked up."""
    emulator.configure(
        faults=[FaultRule(route="POST /agents/v1/generations", kind="reset_after_create", times=1)]
    )

    result = run_dag("luma_test_agents_one_image")

    assert result.task_state("image") == "failed"  # final: its retry would not know either
    assert len(emulator.agents_generations) == 1  # the lost create made one; nothing more was paid
    assert emulator.stats.requests["GET /agents/v1/generations"] == 0  # no list was looked for
    logs = read_logs()
    assert "lists no generations to find it: it is not sent again" in logs
    assert "sent at 20" in logs  # when, so that a person can check the key's usage


@pytest.mark.parametrize(
    ("failure_code", "tries"),
    [
        pytest.param("content_moderated", 1, id="content_moderated: final"),
        pytest.param("budget_exhausted", 1, id="budget_exhausted: final"),
        pytest.param("generation_failed", 2, id="generation_failed: retried, a new generation"),
    ],
)
def test_a_failure_code_decides_whether_the_task_tries_again(
    run_dag, emulator, read_logs, failure_code, tries
):
    emulator.configure(agents_failures=[{"failure_code": failure_code, "times": 2}])

    result = run_dag("luma_test_agents_one_image")  # one retry allowed

    assert result.task_state("image") == "failed"
    assert len(emulator.agents_generations) == tries  # a final failure is not paid for again
    assert all(g["failure_code"] == failure_code for g in emulator.agents_generations)


@pytest.mark.parametrize("where", ["worker", "deferred"])
def test_files_in_object_storage_are_uploaded_once_and_referenced_by_id(run_dag, emulator, read_logs, where):
    from PIL import Image

    from tests.dags.luma_test_agents_dags import UPLOAD_FOLDER

    UPLOAD_FOLDER.mkdir(exist_ok=True)
    Image.new("RGB", (64, 48), "orange").save(UPLOAD_FOLDER / "lantern.png")
    Image.new("RGB", (32, 32), "navy").save(UPLOAD_FOLDER / "style.jpg")

    result = run_dag(f"luma_test_agents_upload_{where}")

    assert result.task_state("image_edit") == "success"
    files = {f["id"]: f for f in emulator.agents_files}
    assert sorted((f["filename"], f["mime_type"], f["state"]) for f in files.values()) == [
        ("lantern.png", "image/png", "ready"),
        ("style.jpg", "image/jpeg", "ready"),
    ]
    assert all(f["expires_at"] for f in files.values())  # Luma deletes them: nothing is left behind
    (generation,) = emulator.agents_generations
    assert (generation["type"], generation["state"]) == ("image_edit", "completed")
    requests = emulator.stats.requests
    assert requests["POST /agents/v1/files"] == requests["PUT /uploads/{token}"] == 2  # once each
    assert requests["POST /agents/v1/files/{id}/complete"] == 2
    logs = read_logs()
    for file_id in files:  # the create referenced them (the emulator checks each file it is given)
        assert f"as file {file_id}" in logs


def test_agents_example_dag(run_dag, emulator, read_logs):
    result = run_dag("example_luma_agents")
    assert result.state == "success", read_logs()[-3000:]
    by_id = {g["id"]: g for g in emulator.agents_generations}
    image_id = result.xcom("lantern", "generation_id")
    assert by_id[image_id]["model"] == "uni-1"
    assert by_id[result.xcom("layers", "generation_id")]["type"] == "layering"
    assert by_id[result.xcom("rising", "generation_id")]["model"] == "ray-3.2"
    assert result.xcom("lantern", "cost") == pytest.approx(0.0404)
    assert result.xcom("lantern").startswith(emulator.base_url.split("/dream-machine")[0])  # its URL
    stored = [*result.xcom("layers"), result.xcom("rising")]
    assert all(Path(path.removeprefix("file://")).stat().st_size > 0 for path in stored)


def test_connections_test_works_for_both_apis(emulator, monkeypatch):
    import json

    from airflow_provider_luma.hooks.luma import LumaAgentsHook, LumaHook

    assert LumaHook().test_connection() == (True, f"Connected to Luma at {emulator.base_url}")
    assert LumaAgentsHook().test_connection() == (True, f"Connected to Luma at {emulator.agents_base_url}")
    assert emulator.stats.requests["GET /agents/v1/files"] == 1  # the Agents API has no /ping
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMA_AGENTS_DEFAULT",
        json.dumps({"conn_type": "luma_agents", "password": "wrong-key", "host": emulator.agents_base_url}),
    )
    ok, message = LumaAgentsHook().test_connection()
    assert not ok
    assert "401" in message
    assert "wrong-key" not in message


@pytest.mark.parametrize("where", ["worker", "deferred"])
def test_a_generation_luma_failed_for_its_rate_limit_is_made_again_by_the_same_try(run_dag, emulator, where):
    # The single task's first generation, and the batch item's.
    once = [{"failure_code": "rate_limited", "prompt": prompt, "times": 1} for prompt in ("rain", "snow")]
    emulator.configure(agents_failures=once)

    result = run_dag(f"luma_test_agents_rate_limited_{where}")  # no retries

    assert (result.task_state("image"), result.task_state("batch")) == ("success", "success")
    states = sorted(g["state"] for g in emulator.agents_generations)
    assert states == ["completed", "completed", "failed", "failed"]  # each failed once, then made again
    assert result.xcom("image", key="generation")["state"] == "completed"
    assert result.xcom("batch", key="batch")["items"][0]["state"] == "completed"
