"""What the operators and the sensor do with the trigger's event, whatever it holds."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma.exceptions import (
    LumaError,
    LumaGenerationFailedError,
    LumaGenerationRejectedError,
    LumaTimeoutError,
)
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from airflow_provider_luma.sensors.luma import LumaGenerationSensor

GEN_ID = "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c"
COMPLETED = {"id": GEN_ID, "state": "completed", "assets": {"image": "https://cdn.example/a.jpg"}}


class RecordingTaskInstance:
    def __init__(self) -> None:
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


@pytest.fixture(params=["operator", "sensor"])
def task(request):
    if request.param == "operator":
        return LumaImageGenerateOperator(task_id="generate", prompt="a lighthouse")
    return LumaGenerationSensor(task_id="wait", generation_id=GEN_ID)


@pytest.mark.parametrize("event", [None, {}, "completed", {"status": "weird"}, {"status": "completed"}])
def test_missing_or_unknown_event_is_rejected(task, event):
    with pytest.raises(LumaError, match="event"):
        task.execute_complete({"ti": RecordingTaskInstance()}, event)


def test_completed_event_returns_the_url_and_pushes_the_generation(task):
    ti = RecordingTaskInstance()
    event = {"status": "completed", "generation_id": GEN_ID, "generation": COMPLETED}
    assert task.execute_complete({"ti": ti}, event) == "https://cdn.example/a.jpg"
    assert ti.xcoms["generation"] == COMPLETED


def test_moderation_failure_is_final(task):
    generation = {"id": GEN_ID, "state": "failed", "failure_reason": "Advanced prompt moderation failed"}
    with pytest.raises(LumaGenerationRejectedError, match="moderation") as error:
        task.execute_complete({"ti": RecordingTaskInstance()}, {"status": "failed", "generation": generation})
    assert isinstance(error.value, AirflowFailException)  # Airflow does not retry it


def test_unexplained_failure_may_be_retried(task):
    generation = {"id": GEN_ID, "state": "failed", "failure_reason": "Internal error, try again"}
    with pytest.raises(LumaGenerationFailedError) as error:
        task.execute_complete({"ti": RecordingTaskInstance()}, {"status": "failed", "generation": generation})
    assert not isinstance(error.value, AirflowFailException)


def test_timeout_and_error_events_fail_with_their_message(task):
    with pytest.raises(LumaTimeoutError, match="deadline"):
        task.execute_complete(
            {"ti": RecordingTaskInstance()}, {"status": "timeout", "message": "past the deadline"}
        )
    with pytest.raises(LumaError, match="HTTP 401"):
        task.execute_complete({"ti": RecordingTaskInstance()}, {"status": "error", "message": "HTTP 401"})


def test_completed_without_asset_fails_clearly(task):
    generation = {"id": GEN_ID, "state": "completed", "assets": {}}
    with pytest.raises(LumaError, match="without an asset URL"):
        task.execute_complete(
            {"ti": RecordingTaskInstance()}, {"status": "completed", "generation": generation}
        )
