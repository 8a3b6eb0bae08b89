"""
Which generation is a try's: re-attach after a try that did not succeed, a new one after success or
for another request, and identical siblings that never take each other's. Real ``dag.test()`` runs
against the emulator.
"""

from __future__ import annotations

import json

import pytest
from tenacity import wait_exponential, wait_random

from airflow_provider_luma.hooks import _http
from airflow_provider_luma.testing import FaultRule
from tests.airflow_version import HAS_TASK_STATE_STORE
from tests.conftest import IMAGES_DIR
from tests.dags.luma_test_reattach_dags import SIBLINGS

needs_state_store = pytest.mark.skipif(
    not HAS_TASK_STATE_STORE, reason="re-attaching needs the task state store (Airflow 3.3+)"
)


@pytest.fixture
def fast_backoff(monkeypatch):
    """Compress the hook's backoff; the policy is unchanged."""
    monkeypatch.setattr(_http, "_backoff", wait_exponential(multiplier=0.01, max=0.05) + wait_random(0, 0.01))


def generation_ids_in_xcom(result, task_id: str, map_indexes=(-1,)) -> list[str]:
    return [result.xcom(task_id, "generation_id", map_index=index) for index in map_indexes]


@needs_state_store
def test_a_retry_reattaches_to_a_running_generation(run_dag, emulator, read_logs):
    result = run_dag("luma_test_reattach_running")
    assert result.state == "success"
    assert emulator.stats.creates == 1
    assert "Re-attaching to generation" in read_logs()
    assert generation_ids_in_xcom(result, "generate") == [emulator.generations[0]["id"]]


@needs_state_store
@pytest.mark.parametrize(
    ("dag_id", "said"),
    [
        ("luma_test_reattach_failed", "failed; creating a new one"),
        ("luma_test_reattach_gone", "is gone; creating a new one"),
        ("luma_test_reattach_changed_request", "for other parameters than this try's: creating a new one"),
    ],
)
def test_a_retry_creates_anew_when_the_earlier_generation_cannot_serve(
    run_dag, emulator, read_logs, dag_id, said
):
    result = run_dag(dag_id)
    assert result.state == "success"
    assert emulator.stats.creates == 2
    assert said in read_logs()
    assert generation_ids_in_xcom(result, "generate") == [emulator.generations[-1]["id"]]  # the second


@needs_state_store  # before 3.3 every retry creates anew, whatever reattach says
@pytest.mark.parametrize("dag_id", ["luma_test_reattach_opted_out"])
def test_reattach_false_always_creates_anew(run_dag, emulator, read_logs, dag_id):
    result = run_dag(dag_id)
    assert result.state == "success"
    assert emulator.stats.creates == 2
    assert "Re-attaching" not in read_logs()


@needs_state_store
def test_a_failed_copy_is_retried_on_the_completed_generation_without_a_new_create(
    run_dag, emulator, read_logs
):
    emulator.configure(faults=[FaultRule(route="GET /assets/*", kind="500", times=1)])
    result = run_dag("luma_test_reattach_after_failed_copy")
    assert result.state == "success"
    assert emulator.stats.creates == 1
    generation_id = emulator.generations[0]["id"]
    assert "Re-attaching to generation" in read_logs()
    stored = result.xcom("generate")
    assert stored.endswith(".jpg") or stored.endswith(".png")
    assert generation_id in stored
    assert (IMAGES_DIR / "reattach").is_dir()


@needs_state_store
def test_a_succeeded_task_instance_keeps_its_record_sealed_and_ended(run_dag, emulator):
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    from airflow_provider_luma.records import STATE_STORE_KEY

    result = run_dag("luma_test_reattach_running")
    assert result.state == "success"
    with create_session() as session:
        (row,) = session.query(TaskStateStoreModel).filter_by(
            dag_id=result.dag_run.dag_id, run_id=result.dag_run.run_id, key=STATE_STORE_KEY
        )
        record = json.loads(row.value) if isinstance(row.value, str) else row.value
    # Kept: a retry after Airflow failed the try anyway takes it up; a clear makes a new image.
    assert (record["succeeded"], record["try_number"]) == (True, 2)
    assert record["generation_id"] == emulator.generations[0]["id"]
    assert len(record["mac"]) == 64


@needs_state_store
def test_a_create_left_in_doubt_is_searched_for_by_the_next_try(run_dag, emulator, fast_backoff, read_logs):
    emulator.configure(
        faults=[
            # The create is stored, its answer lost; every list call of the first try after the
            # one before its create (the key's room) fails.
            FaultRule(route="POST /generations/image", kind="reset_after_create", times=1),
            FaultRule(route="GET /generations", kind="503", times=4, after=1),
        ]
    )
    result = run_dag("luma_test_reattach_after_failed_copy")
    assert result.state == "success"
    assert emulator.stats.creates == 1  # the second try found it instead of creating blindly
    assert "Luma's answer never recorded" in read_logs()
    assert generation_ids_in_xcom(result, "generate") == [emulator.generations[0]["id"]]


def test_identical_siblings_never_take_each_others_generation(run_dag, emulator, fast_backoff, read_logs):
    # The third of four identical creates is stored by Luma, but its answer is lost.
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="reset_after_create", times=1, after=2)]
    )
    result = run_dag("luma_test_identical_siblings")
    assert result.state == "success", read_logs()[-3000:]
    ids = generation_ids_in_xcom(result, "variant", range(SIBLINGS))
    assert len(set(ids)) == SIBLINGS
    assert emulator.stats.creates == SIBLINGS  # none paid twice
    assert sorted(ids) == sorted(generation["id"] for generation in emulator.generations)
    assert "adopting generation" in read_logs()


def test_a_rate_limited_deferrable_create_waits_on_the_triggerer(run_dag, emulator, read_logs):
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="429", times=2, retry_after=0.2)]
    )
    result = run_dag("luma_test_rate_limited_create")
    assert result.state == "success"
    logs = read_logs()
    assert "holding no worker slot" in logs  # deferred on the 429s...
    assert "trying again in" not in logs  # ...and the hook did not wait them out itself
    assert emulator.stats.requests["POST /generations/image"] == 3  # two 429s, then the create
    assert emulator.stats.creates == 1


def test_a_hung_luma_times_out_near_the_deadline_in_the_worker(run_dag, emulator):
    import time

    emulator.configure(dreaming_seconds=600)
    emulator.configure(faults=[FaultRule(route="GET /generations/{id}", kind="slow", delay=300)])
    started = time.monotonic()
    result = run_dag("luma_test_hung_poll_in_worker")
    elapsed = time.monotonic() - started
    assert result.state == "failed"
    assert emulator.generations == []  # delete_on_timeout deleted it
    assert elapsed < 60, elapsed  # not the minutes a held answer takes


def test_an_error_retrying_cannot_fix_while_deferred_fails_without_retries(run_dag, emulator, read_logs):
    result = run_dag("luma_test_deleted_while_deferred")
    assert result.state == "failed"
    assert emulator.stats.creates == 1  # retries=2, none used
    assert "404" in read_logs()
