"""
The provider outside Airflow's task runner and triggerer, and the seed's polling loop it is compared
with: what the benchmarks hand to an operator's ``execute`` and how they take a trigger's event.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from benchmarks._emulator import API_KEY

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger, TriggerEvent

TERMINAL = ("completed", "failed")


class TaskInstanceStub:
    """
    The parts of a task instance the operators use here: who it is (the record's seal is bound to
    it), its try, and ``xcom_push``.
    """

    dag_id = "bench"
    run_id = "bench_run"
    task_id = "generate"
    #: An unmapped task, as a real task instance says (the operator reads it on Airflow 3.3).
    map_index = -1
    try_number = 1
    max_tries = 0

    def xcom_push(self, key: str, value: Any) -> None:
        """
        Drop the XCom: no benchmark reads it.

        :param key: the XCom key.
        :param value: the value.
        """


def task_context() -> dict[str, Any]:
    """A minimal task context: a task instance, no ``task_state_store`` (no re-attach lookup)."""
    return {"ti": TaskInstanceStub()}


async def first_event(trigger: BaseTrigger) -> TriggerEvent:
    """
    The trigger's first event, as a triggerer takes it (the trigger is closed after it).

    :param trigger: the trigger.
    """
    events = trigger.run()
    try:
        return await events.__anext__()
    finally:
        await events.aclose()


def seed_create(base_url: str, prompt: str) -> dict[str, Any]:
    """
    The seed's create: ``POST /generations/image`` with ``requests``; return the generation.

    :param base_url: the API base URL.
    :param prompt: the image prompt.
    """
    import requests

    answer = requests.post(
        f"{base_url}/generations/image",
        json={"prompt": prompt, "model": "photon-1"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    answer.raise_for_status()
    generation: dict[str, Any] = answer.json()
    return generation


def seed_wait(
    base_url: str, generation: dict[str, Any], poll_seconds: float, timeout: float
) -> dict[str, Any]:
    """
    The seed's loop after its create: ``GET /generations/{id}`` every ``poll_seconds`` until the
    generation ends or ``timeout`` seconds pass; return it as last seen.

    :param base_url: the API base URL.
    :param generation: the created generation.
    :param poll_seconds: seconds between polls.
    :param timeout: seconds to poll at most.
    """
    import requests

    headers = {"Authorization": f"Bearer {API_KEY}"}
    deadline = time.monotonic() + timeout
    while generation["state"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(poll_seconds)
        answer = requests.get(f"{base_url}/generations/{generation['id']}", headers=headers, timeout=30)
        answer.raise_for_status()
        generation = answer.json()
    return generation
