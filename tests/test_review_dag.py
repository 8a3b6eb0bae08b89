"""
The review example under ``dag.test()``: the reviewer answers through Airflow's real REST API.

``dag.test()`` leaves a human-in-the-loop task waiting until a response is recorded in the
metadata database; here Airflow's own api-server app (in this process, on the same database)
records it, from a thread, as a reviewer's browser or script would.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS
from PIL import Image

from tests.airflow_version import DAG_TEST_ANSWERS_HITL

pytestmark = [
    pytest.mark.skipif(
        not AIRFLOW_V_3_1_PLUS, reason="the human-in-the-loop operators came with Airflow 3.1"
    ),
    pytest.mark.skipif(
        not DAG_TEST_ANSWERS_HITL,
        reason="Airflow 3.1 and 3.2's dag.test() runs the human-in-the-loop trigger without its response",
    ),
]

DAG_ID = "example_luma_review"
PUBLISHED_URI = "luma://example/published-images"


class Reviewer(threading.Thread):
    """
    Answers each review task of the next run of the review DAG, in order, once it waits for input.

    :param answers: ``[(task_id, chosen option, note), ...]``.
    """

    def __init__(self, answers: list[tuple[str, str, str]]) -> None:
        super().__init__(daemon=True)
        self.answers = answers
        self.error: BaseException | None = None

    def run(self) -> None:
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        try:
            with TestClient(create_app("core")) as client:
                for task_id, option, note in self.answers:
                    run_id = self._wait_until_waiting(client, task_id)
                    response = client.patch(
                        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails",
                        json={"chosen_options": [option], "params_input": {"note": note}},
                    )
                    assert response.status_code == 200, response.text
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    @staticmethod
    def _wait_until_waiting(client: Any, task_id: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"state": "running"}).json()
            for run in runs.get("dag_runs", []):
                ti = client.get(
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}"
                ).json()
                if ti.get("state") == "awaiting_input":
                    return str(run["dag_run_id"])
            time.sleep(0.3)
        raise AssertionError(f"{task_id} never waited for input")


@pytest.fixture
def review_run(run_dag, monkeypatch):
    """Run the review DAG while a reviewer answers; yield the result and the reviewer."""
    # Every request to the in-process api-server counts as an admin's (simple auth manager).
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")

    def run(answers: list[tuple[str, str, str]]):
        reviewer = Reviewer(answers)
        reviewer.start()
        result = run_dag(DAG_ID, {"prompt": "A red kite over a wheat field"})
        reviewer.join(timeout=10)
        assert reviewer.error is None, reviewer.error
        return result

    return run


def published_events() -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        query = query.where(AssetModel.uri == PUBLISHED_URI)
        return [dict(event.extra) for event in session.scalars(query)]


def test_the_picked_variant_is_stored_and_published(review_run, emulator):
    before = len(published_events())
    result = review_run([("review", "Variant 2", "")])
    assert result.state == "success"
    assert result.task_state("second_review") == "skipped"
    picked = result.xcom("generate_variants", "generation", map_index=1)
    path = result.xcom("publish")
    assert path.endswith(f"/{picked['id']}.png")
    with Image.open(path.removeprefix("file://")) as image:
        image.verify()
    events = published_events()
    assert len(events) == before + 1
    assert events[-1]["generation_id"] == picked["id"]
    assert events[-1]["picked"] == "Variant 2"
    assert emulator.stats.creates == 3  # one round only


def test_reject_all_regenerates_once_with_the_note_then_asks_again(review_run, emulator):
    result = review_run([("review", "Reject all", "more fog"), ("second_review", "Variant 3", "")])
    assert result.state == "success"
    second_round = [result.xcom("regenerate_variants", "generation", map_index=i) for i in range(3)]
    assert all(g["request"]["prompt"].endswith("Reviewer's note: more fog") for g in second_round)
    assert result.xcom("publish").endswith(f"/{second_round[2]['id']}.png")
    assert emulator.stats.creates == 6


def test_rejected_twice_publishes_nothing(review_run, emulator):
    before = len(published_events())
    result = review_run([("review", "Reject all", "darker"), ("second_review", "Reject all", "")])
    assert result.task_state("publish") == "skipped"
    assert len(published_events()) == before
    assert emulator.stats.creates == 6


def test_review_body_shows_every_variant_image(review_run, emulator):
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    result = review_run([("review", "Variant 1", "")])
    urls = [result.xcom("generate_variants", map_index=i) for i in range(3)]
    with create_session() as session:
        body = session.scalar(
            select(HITLDetail.body)
            .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
            .where(TaskInstance.run_id == result.dag_run.run_id, TaskInstance.task_id == "review")
        )
    for number, url in enumerate(urls, start=1):
        assert f"![Variant {number}]({url})" in body
