"""
Paid once, and the right image, in a running Airflow 3.3 (tasks that start on the triggerer):

- two runs, one prompt: a run whose create was lost, retried after another run made the very same
  request, takes its own generation, never the other run's;
- a record planted in ``generate``'s XCom, replayed from another run by an upstream task or
  written through the REST API, is ignored: the task creates its own;
- a try that Airflow fails after it finished is taken up by its retry (no second create), and a
  clear then makes a new image.

Evidence: the emulator's creates and generations, XComs and task logs through the REST API.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from luma_e2e.processes import wait_until
from luma_e2e.scenarios import RECORD_XCOM_KEY, assert_run_succeeds, generations_of_run, wait_for_ti_state
from luma_e2e.settings import RUN_TIMEOUT
from test_e2e_3_reroll import clear, complete_once_created, creates, start_run

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.stack import AirflowStack

ONE_PROMPT = "A lighthouse at dawn, the same every morning"
IGNORED = "Ignoring the stored Luma record of this task instance"


def with_prompt(emulator: LumaEmulatorProcess, prompt: str) -> list[dict[str, Any]]:
    """The emulator's generations of ``prompt``, oldest first."""
    return [g for g in emulator.stats()["generations"] if (g.get("request") or {}).get("prompt") == prompt]


def test_two_runs_one_prompt_each_keeps_its_own_generation(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    api, dag_id = stack.api, "e2e_luma_one_prompt"
    # Run B's create is stored but its answer lost, and Luma's list cannot be read after the read
    # before the create (the key's room): it fails in doubt.
    emulator.configure(
        faults=[
            {"route": "POST /generations/image", "kind": "reset_after_create", "times": 1},
            {"route": "GET /generations", "kind": "503", "times": 4, "after": 1},
        ]
    )
    try:
        run_b = start_run(api, dag_id)
        wait_for_ti_state(api, dag_id, run_b, "generate", "up_for_retry", timeout=RUN_TIMEOUT)
    finally:
        emulator.configure(faults=[])
    (b_generation,) = with_prompt(emulator, ONE_PROMPT)
    # Run A makes the same request once B's lost create can no longer have made anything.
    created = datetime.fromisoformat(b_generation["created_at"])
    time.sleep(max(0.0, 11 - (datetime.now(timezone.utc) - created).total_seconds()))
    run_a = api.trigger(dag_id)
    a_generation = wait_until(
        lambda: with_prompt(emulator, ONE_PROMPT)[1:], timeout=RUN_TIMEOUT, interval=0.2, what="A's create"
    )[0]
    for generation in (b_generation, a_generation):
        emulator.complete(generation["id"])
    assert_run_succeeds(api, dag_id, run_a, timeout=RUN_TIMEOUT)
    assert_run_succeeds(api, dag_id, run_b, timeout=RUN_TIMEOUT)  # its retry comes 20 s after try 1
    assert api.task_instance(dag_id, run_b, "generate")["try_number"] == 2
    assert api.xcom(dag_id, run_b, "generate", key="generation_id") == b_generation["id"]
    assert api.xcom(dag_id, run_a, "generate", key="generation_id") == a_generation["id"]
    assert len(with_prompt(emulator, ONE_PROMPT)) == 2  # one create per run


def test_a_replayed_or_planted_record_is_ignored(stack: AirflowStack, emulator: LumaEmulatorProcess) -> None:
    api, dag_id = stack.api, "e2e_luma_record_planted"
    api.unpause(dag_id)
    first = api.trigger(dag_id)
    complete_once_created(emulator, dag_id, first)
    assert_run_succeeds(api, dag_id, first, timeout=RUN_TIMEOUT)
    first_id = api.xcom(dag_id, first, "generate", key="generation_id")
    genuine = api.xcom(dag_id, first, "generate", key=RECORD_XCOM_KEY)
    assert genuine["succeeded"] is True

    replayed = api.trigger(dag_id, conf={"replay_from": first})  # by the upstream task
    planted = api.trigger(dag_id, conf={"hold": 20})  # through the REST API, while plant waits
    wait_for_ti_state(api, dag_id, planted, "plant", "running", timeout=RUN_TIMEOUT)
    api.set_xcom(dag_id, planted, "generate", RECORD_XCOM_KEY, genuine)
    for run_id in (replayed, planted):
        own = complete_once_created(emulator, dag_id, run_id)
        assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)
        assert api.xcom(dag_id, run_id, "generate", key="generation_id") == own != first_id
        assert api.xcom(dag_id, run_id, "generate")  # its own URL, pushed by its own try
        assert IGNORED in api.task_log(dag_id, run_id, "generate")


def test_a_try_failed_after_it_finished_is_taken_up_and_a_clear_re_rolls(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    api, dag_id = stack.api, "e2e_luma_finished_then_failed"
    creates_before = creates(emulator)
    run_id = start_run(api, dag_id)
    first_id = complete_once_created(emulator, dag_id, run_id)
    assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)
    ti = api.task_instance(dag_id, run_id, "generate")
    assert ti["try_number"] == 2, ti  # try 1 finished, then was failed
    first_log = api.task_log(dag_id, run_id, "generate", try_number=1)
    assert "Airflow failed this try after it finished" in first_log
    said = f"Re-attaching to generation {first_id} created by an earlier try (completed)"
    assert said in api.task_log(dag_id, run_id, "generate", try_number=2)
    assert api.xcom(dag_id, run_id, "generate", key="generation_id") == first_id
    assert creates(emulator) == creates_before + 1  # the retry paid nothing

    clear(api, dag_id, run_id)  # the user asks again
    second_id = complete_once_created(emulator, dag_id, run_id, try_number=3, earlier=frozenset({first_id}))
    assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)
    assert api.xcom(dag_id, run_id, "generate", key="generation_id") == second_id != first_id
    assert creates(emulator) == creates_before + 2
    assert {g["id"] for g in generations_of_run(emulator, run_id)} == {first_id, second_id}
