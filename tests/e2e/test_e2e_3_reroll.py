"""
Which generation a try waits on, cleared or retried through the REST API of the running stack.

- A clear after success is a request for a new image: a new create, a new generation id and URL,
  whether the task returned the asset URL or a worker copied it to ``output_path``.
- A try after one whose copy failed (an emulator 500 on the first download of the asset, so the
  task fails for real) re-attaches to the completed generation: no new create, after a clear as
  after an automatic retry.
- A prompt changed between two tries (a Variable) never re-attaches: the try creates anew and
  says why.

These tasks start on the triggerer (deferrable, no XComArg parameters): their record is an XCom of
the task instance, which says which try made which generation and whether that try succeeded.

Evidence: the emulator's create count and generations, XCom (the record included) and the task
logs served by the REST API. To keep it quick, each generation is completed through the emulator's
admin endpoint as soon as it is created.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from luma_e2e.evidence import download_image
from luma_e2e.processes import wait_until
from luma_e2e.scenarios import (
    RECORD_XCOM_KEY,
    assert_run_succeeds,
    describe_run,
    generations_of_run,
)
from luma_e2e.settings import E2E_OUTPUT_DIR, RUN_TIMEOUT
from PIL import Image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.rest import AirflowApi
    from luma_e2e.stack import AirflowStack

TASK = "generate"
#: The Variable the stored DAGs' prompts read (``tests/e2e/dags/e2e_luma_reroll_dags.py``).
SUBJECT_VARIABLE = "e2e_luma_reroll_subject"
REATTACHED = "Re-attaching to generation {} created by an earlier try (completed)"


@dataclass(frozen=True)
class TryResult:
    """
    What one finished try of the ``generate`` task left in XCom.

    :param generation_id: the ``generation_id`` XCom.
    :param generation: the ``generation`` XCom (the final object).
    :param return_value: the asset URL, or the stored path with ``output_path``.
    """

    generation_id: str
    generation: dict[str, Any]
    return_value: str

    @classmethod
    def read(cls, api: AirflowApi, dag_id: str, run_id: str) -> TryResult:
        """
        Read the XComs of the task's latest try.

        :param api: the REST client.
        :param dag_id: the DAG.
        :param run_id: the run.
        """
        return cls(
            generation_id=api.xcom(dag_id, run_id, TASK, key="generation_id"),
            generation=api.xcom(dag_id, run_id, TASK, key="generation"),
            return_value=api.xcom(dag_id, run_id, TASK),
        )


def creates(emulator: LumaEmulatorProcess) -> int:
    """How many generations the emulator has created in all."""
    return int(emulator.stats()["creates"])


def ids_of_run(emulator: LumaEmulatorProcess, run_id: str) -> set[str]:
    """
    The ids of the generations the emulator made for one run.

    :param emulator: the emulator.
    :param run_id: the run (the harness DAGs' prompts carry it).
    """
    return {str(g["id"]) for g in generations_of_run(emulator, run_id)}


def record_of(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, Any] | None:
    """
    The provider's record of the run's ``generate`` task (an XCom of the task instance), if any.

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    record: dict[str, Any] | None = api.xcom(dag_id, run_id, TASK, key=RECORD_XCOM_KEY)
    return record


def succeeded_with(api: AirflowApi, dag_id: str, run_id: str) -> tuple[int, str]:
    """
    The try that the task's record says succeeded, and its generation (fails if none did).

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    record = record_of(api, dag_id, run_id)
    assert record is not None
    assert record.get("succeeded") is True, record
    return record["try_number"], record["generation_id"]


def start_run(api: AirflowApi, dag_id: str) -> str:
    """
    Unpause ``dag_id`` and trigger a run; return its id.

    :param api: the REST client.
    :param dag_id: the DAG.
    """
    api.unpause(dag_id)
    return api.trigger(dag_id)


def assert_run_fails(api: AirflowApi, dag_id: str, run_id: str) -> None:
    """
    Wait for a run that must fail.

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    state = api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
    assert state == "failed", describe_run(api, dag_id, run_id)


def clear(api: AirflowApi, dag_id: str, run_id: str) -> None:
    """
    Clear the run's ``generate`` task through the REST API, as a user does in the UI.

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    cleared = api.clear_task(dag_id, run_id, TASK)
    assert [ti["task_id"] for ti in cleared] == [TASK], cleared


def assert_second_try_succeeds(api: AirflowApi, dag_id: str, run_id: str) -> None:
    """
    Wait for the run; it succeeds, with the ``generate`` task on its second try.

    :param api: the REST client.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)
    ti = api.task_instance(dag_id, run_id, TASK)
    assert (ti["state"], ti["try_number"]) == ("success", 2), ti


def complete_once_created(
    emulator: LumaEmulatorProcess,
    dag_id: str,
    run_id: str,
    try_number: int = 1,
    earlier: frozenset[str] = frozenset(),
) -> str:
    """
    Wait for the try's new generation, then have Luma complete it; return its id.

    :param emulator: the emulator.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param try_number: the try that creates.
    :param earlier: the generations earlier tries of the run made.
    """
    (generation_id,) = wait_until(
        lambda: ids_of_run(emulator, run_id) - earlier,
        timeout=RUN_TIMEOUT,
        interval=0.2,
        what=f"the create of try {try_number} of {dag_id} (run {run_id})",
    )
    emulator.complete(generation_id)
    return generation_id


@contextlib.contextmanager
def first_asset_download_fails(emulator: LumaEmulatorProcess) -> Iterator[None]:
    """
    Within the block, the next asset download (only that one) is answered HTTP 500 by the emulator.

    Nothing else downloads assets while a scenario of this module runs.

    :param emulator: the emulator.
    """
    emulator.configure(faults=[{"route": "GET /assets/*", "kind": "500", "times": 1}])
    try:
        yield
    finally:
        emulator.configure(faults=[])


def asset_downloads(emulator: LumaEmulatorProcess, generation_id: str) -> list[int]:
    """
    The statuses the emulator answered to downloads of a generation's asset, oldest first.

    :param emulator: the emulator (its last requests).
    :param generation_id: the generation.
    """
    prefix = f"/assets/{generation_id}."
    return [r["status"] for r in emulator.stats()["last_requests"] if r["path"].startswith(prefix)]


def stored_file(stack: AirflowStack, dag_id: str, generation_id: str) -> Path:
    """
    Where the stored DAGs copy a generation's image (``output_path`` is a folder per DAG).

    :param stack: the running stack.
    :param dag_id: the DAG.
    :param generation_id: the generation.
    """
    return stack.home / E2E_OUTPUT_DIR / dag_id / f"{generation_id}.png"


# -- a clear after success: a new generation ---------------------------------------------------


@pytest.mark.parametrize(
    ("dag_id", "stores"),
    [("e2e_luma_reroll_url", False), ("e2e_luma_reroll_stored", True)],
    ids=["deferred-url-only", "deferred-with-output-path"],
)
def test_a_clear_after_success_makes_a_new_generation_and_url(
    stack: AirflowStack, emulator: LumaEmulatorProcess, dag_id: str, stores: bool
) -> None:
    api = stack.api
    creates_before = creates(emulator)
    run_id = start_run(api, dag_id)
    first_id = complete_once_created(emulator, dag_id, run_id)
    assert_run_succeeds(api, dag_id, run_id, timeout=RUN_TIMEOUT)
    first = TryResult.read(api, dag_id, run_id)
    assert first.generation_id == first_id
    assert ids_of_run(emulator, run_id) == {first_id}
    assert succeeded_with(api, dag_id, run_id) == (1, first_id)  # a clear of it asks for a new one
    if stores:
        assert first.return_value == str(stored_file(stack, dag_id, first.generation_id))
    else:
        assert first.return_value == first.generation["assets"]["image"]

    clear(api, dag_id, run_id)
    second_id = complete_once_created(emulator, dag_id, run_id, 2, frozenset({first_id}))
    assert_second_try_succeeds(api, dag_id, run_id)

    second = TryResult.read(api, dag_id, run_id)
    assert second.generation_id == second_id
    assert creates(emulator) - creates_before == 2
    assert ids_of_run(emulator, run_id) == {first.generation_id, second.generation_id}
    assert second.generation_id != first.generation_id
    assert second.generation["id"] == second.generation_id
    assert second.return_value != first.return_value  # a new URL (or stored file)
    assert second.generation["request"]["prompt"] == first.generation["request"]["prompt"]
    log = api.task_log(dag_id, run_id, TASK, try_number=2)
    assert "Re-attaching" not in log, log[-3000:]
    said = f"An earlier try succeeded with generation {first_id} and the task was cleared since"
    assert f"{said}: creating a new one" in log, log[-3000:]
    assert succeeded_with(api, dag_id, run_id) == (2, second_id)
    if not stores:
        download_image(second.return_value)
    else:
        assert second.return_value == str(stored_file(stack, dag_id, second.generation_id))
        for result in (first, second):  # both images are kept: each was paid for
            assert Image.open(result.return_value).format == "PNG"


# -- a failed copy: the next try re-attaches ---------------------------------------------------


def first_try_failed_copying(
    stack: AirflowStack, emulator: LumaEmulatorProcess, dag_id: str, run_id: str
) -> str:
    """
    Try 1 created one generation, which completed, and failed copying its asset; return its id.

    :param stack: the running stack.
    :param emulator: the emulator.
    :param dag_id: a stored DAG.
    :param run_id: the run.
    """
    (generation_id,) = ids_of_run(emulator, run_id)
    assert emulator.generation(generation_id)["state"] == "completed"
    log = stack.api.task_log(dag_id, run_id, TASK, try_number=1)
    assert "answered HTTP 500" in log, log[-3000:]
    return generation_id


def assert_nothing_stored_yet(
    stack: AirflowStack, emulator: LumaEmulatorProcess, dag_id: str, generation_id: str
) -> None:
    """
    The one download of the generation's asset was answered 500, and no file (not even a part) is left.

    :param stack: the running stack.
    :param emulator: the emulator.
    :param dag_id: a stored DAG.
    :param generation_id: the generation.
    """
    assert asset_downloads(emulator, generation_id) == [500]
    assert not stored_file(stack, dag_id, generation_id).exists()


def assert_reattached(
    stack: AirflowStack, emulator: LumaEmulatorProcess, dag_id: str, run_id: str, generation_id: str
) -> None:
    """
    Try 2 waited on the generation of try 1, completed already, and stored its asset.

    :param stack: the running stack.
    :param emulator: the emulator.
    :param dag_id: a stored DAG.
    :param run_id: the run.
    :param generation_id: try 1's generation.
    """
    api = stack.api
    assert ids_of_run(emulator, run_id) == {generation_id}  # no second create
    assert asset_downloads(emulator, generation_id) == [500, 200]
    result = TryResult.read(api, dag_id, run_id)
    assert (result.generation_id, result.generation["state"]) == (generation_id, "completed")
    stored = stored_file(stack, dag_id, generation_id)
    assert result.return_value == str(stored)
    assert Image.open(stored).format == "PNG"
    log = api.task_log(dag_id, run_id, TASK, try_number=2)
    assert REATTACHED.format(generation_id) in log, log[-3000:]
    assert succeeded_with(api, dag_id, run_id) == (2, generation_id)  # a clear now makes a new one


def test_a_clear_after_a_failed_copy_reattaches_without_a_new_create(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    api, dag_id = stack.api, "e2e_luma_reroll_stored"
    creates_before = creates(emulator)
    with first_asset_download_fails(emulator):
        run_id = start_run(api, dag_id)
        complete_once_created(emulator, dag_id, run_id)
        assert_run_fails(api, dag_id, run_id)
    ti = api.task_instance(dag_id, run_id, TASK)
    assert (ti["state"], ti["try_number"]) == ("failed", 1), ti
    generation_id = first_try_failed_copying(stack, emulator, dag_id, run_id)
    assert_nothing_stored_yet(stack, emulator, dag_id, generation_id)
    record = record_of(api, dag_id, run_id)  # the next try will find it: try 1 did not succeed
    assert record is not None
    assert (record["generation_id"], record["try_number"]) == (generation_id, 1)
    assert not record.get("succeeded"), record

    clear(api, dag_id, run_id)
    assert_second_try_succeeds(api, dag_id, run_id)  # no deferral: the generation is completed

    assert creates(emulator) - creates_before == 1
    assert_reattached(stack, emulator, dag_id, run_id, generation_id)


def test_an_automatic_retry_after_a_failed_copy_reattaches_without_a_new_create(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    api, dag_id = stack.api, "e2e_luma_reroll_retried"
    creates_before = creates(emulator)
    with first_asset_download_fails(emulator):
        run_id = start_run(api, dag_id)
        complete_once_created(emulator, dag_id, run_id)
        assert_second_try_succeeds(api, dag_id, run_id)
    tries = [(t["try_number"], t["state"]) for t in api.task_tries(dag_id, run_id, TASK)]
    assert tries == [(1, "failed"), (2, "success")], tries
    generation_id = first_try_failed_copying(stack, emulator, dag_id, run_id)
    assert creates(emulator) - creates_before == 1
    assert_reattached(stack, emulator, dag_id, run_id, generation_id)


# -- a changed request: created anew -----------------------------------------------------------


def test_a_prompt_changed_before_the_clear_of_a_failed_try_creates_anew_and_says_why(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    """Try 1's generation completed (only its copy failed): only the changed prompt rules it out."""
    api, dag_id = stack.api, "e2e_luma_reroll_stored"
    creates_before = creates(emulator)
    api.set_variable(SUBJECT_VARIABLE, "a red kite")
    try:
        with first_asset_download_fails(emulator):
            run_id = start_run(api, dag_id)
            complete_once_created(emulator, dag_id, run_id)
            assert_run_fails(api, dag_id, run_id)
        first_id = first_try_failed_copying(stack, emulator, dag_id, run_id)
        assert_nothing_stored_yet(stack, emulator, dag_id, first_id)
        assert "a red kite" in emulator.generation(first_id)["request"]["prompt"]
        api.set_variable(SUBJECT_VARIABLE, "a blue kite")  # the user fixes the prompt

        clear(api, dag_id, run_id)
        second_id = complete_once_created(emulator, dag_id, run_id, 2, frozenset({first_id}))
        assert_second_try_succeeds(api, dag_id, run_id)
    finally:
        api.delete_variable(SUBJECT_VARIABLE)

    result = TryResult.read(api, dag_id, run_id)
    assert creates(emulator) - creates_before == 2
    assert ids_of_run(emulator, run_id) == {first_id, second_id}
    assert result.generation_id == second_id != first_id
    assert "a blue kite" in result.generation["request"]["prompt"]
    assert result.return_value == str(stored_file(stack, dag_id, result.generation_id))
    assert asset_downloads(emulator, first_id) == [500]  # the old image was not fetched again
    log = api.task_log(dag_id, run_id, TASK, try_number=2)
    why = f"An earlier try made generation {first_id} for other parameters than this try's"
    assert f"{why}: creating a new one" in log, log[-3000:]
    assert "Re-attaching" not in log
