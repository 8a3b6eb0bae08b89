"""
Running :class:`LumaGenerateTrigger` (or :class:`LumaBatchTrigger`) in this process the way a
triggerer does (Airflow 3.3+).

The trigger gets the task's ``start_trigger_args`` kwargs (what the scheduler stores in the trigger
row), the task instance identity a triggerer attaches, and Airflow's own in-process supervisor for
its XCom calls, which go through the real Execution API to the metadata database. What the
triggerer itself adds (rendering templates, ending the task on the event) is left to
``tests/e2e/test_e2e_6_start_on_triggerer.py``, in a real triggerer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.triggers.base import TriggerEvent

    from airflow_provider_luma.triggers.batch import LumaBatchTrigger
    from airflow_provider_luma.triggers.luma import LumaGenerateTrigger


class _AsyncComms:
    """Airflow's in-process supervisor comms, with the ``asend`` that triggers use."""

    def __init__(self, comms: Any) -> None:
        self.comms = comms

    def send(self, msg: Any) -> Any:
        return self.comms.send(msg)

    async def asend(self, msg: Any) -> Any:
        return self.comms.send(msg)  # answered in-process, at once


@contextlib.contextmanager
def supervisor_comms(ti_id: Any) -> Iterator[None]:
    """
    Give this process the comms a trigger's XCom and task-instance calls go through.

    :param ti_id: the task instance whose calls they are.
    """
    import psutil
    import structlog
    from airflow.sdk.execution_time.supervisor import (
        InProcessSupervisorComms,
        InProcessTestSupervisor,
        set_supervisor_comms,
    )

    supervisor = InProcessTestSupervisor(
        id=ti_id,
        pid=os.getpid(),
        process=psutil.Process(),
        process_log=structlog.get_logger(logger_name="task").bind(),
        client=InProcessTestSupervisor._api_client(),
    )
    supervisor.comms = InProcessSupervisorComms(supervisor=supervisor)
    with set_supervisor_comms(_AsyncComms(supervisor.comms)):
        yield


@dataclass
class AttachedTaskInstance:
    """
    What a triggerer attaches to a trigger: the task instance's identity, its task and a TI count.

    :param dag_id: the DAG.
    :param task_id: the task.
    :param run_id: the run.
    :param try_number: the try.
    :param task: the task (its DAG tells the trigger the sibling tasks).
    :param map_index: the map index.
    :param clears: how often the run was cleared after it finished (each starts it again).
    """

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    task: Any
    map_index: int = -1
    clears: int = 0

    def get_template_context(self) -> dict[str, Any]:
        from datetime import datetime, timedelta, timezone
        from types import SimpleNamespace

        started = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(hours=self.clears)
        return {"dag_run": SimpleNamespace(start_date=started)}

    @staticmethod
    def get_ti_count(**kwargs: Any) -> int:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        return RuntimeTaskInstance.get_ti_count(**kwargs)


def trigger_of(task: Any, ti: AttachedTaskInstance, **changes: Any) -> LumaGenerateTrigger | LumaBatchTrigger:
    """
    The trigger Airflow starts ``task`` with, attached to ``ti``.

    :param task: a generate or batch operator that starts on the triggerer.
    :param ti: the task instance identity.
    :param changes: kwargs to change (as the triggerer's rendering would).
    """
    from importlib import import_module

    assert task.start_from_trigger, task
    args = task.start_trigger_args
    module, _, name = args.trigger_cls.rpartition(".")
    trigger = getattr(import_module(module), name)(**{**args.trigger_kwargs, **changes})
    trigger.task_instance = ti
    return trigger


async def first_event(trigger: Any, timeout: float = 60) -> TriggerEvent:
    """
    Run a trigger until its first event.

    :param trigger: the trigger.
    :param timeout: the most seconds it may take.
    """
    events = trigger.run()
    try:
        return await asyncio.wait_for(events.__anext__(), timeout=timeout)
    finally:
        await events.aclose()
