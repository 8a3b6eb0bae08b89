"""
Ending a task from the triggerer: its XComs pushed and a ``TaskSuccessEvent``, no worker resumed.

Airflow's ``TaskSuccessEvent(xcoms=...)`` is right on Airflow 2 but wrong on 3.3: the triggerer
stores each value JSON-encoded a second time, so a downstream task would read the asset URL in
quotes and the generation as a string. On Airflow 3.3+ the XComs therefore go through the Task SDK
(the triggerer relays them to the Execution API, the same path a worker's XComs take) and the event
carries none. Airflow 3.0 to 3.2 are not handled here: their triggerer's relay of XCom writes is
untested by this provider, so the operator keeps the worker path there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

#: Whether this Airflow can end a Luma task from the triggerer (see the module docstring).
SUPPORTED = AIRFLOW_V_3_3_PLUS or not AIRFLOW_V_3_0_PLUS


async def task_success_event(task_instance: Any, xcoms: dict[str, Any], links: list[tuple[Any, str]]) -> Any:
    """
    The event that ends ``task_instance`` successfully with ``xcoms`` pushed.

    :param task_instance: the deferred task instance the triggerer attached to the trigger.
    :param xcoms: ``{key: JSON value}`` to push for it.
    :param links: ``(operator extra link, its URL)`` pairs. Airflow 3 serves a task's extra links from
        XComs that the worker pushes as the task ends (one per link, under the link's
        ``xcom_key``), so they are pushed here; Airflow 2 builds links from the XComs when asked.
    :raises Exception: whatever the XCom write raised (the caller resumes the task on a worker).
    """
    from airflow.triggers.base import TaskSuccessEvent

    if not AIRFLOW_V_3_0_PLUS:
        return TaskSuccessEvent(xcoms=xcoms)
    from airflow.sdk.execution_time.xcom import XCom

    for key, value in {**xcoms, **{link.xcom_key: url for link, url in links}}.items():
        # A blocking call to the triggerer's supervisor: off the event loop, which other waits share.
        await asyncio.to_thread(
            XCom.set,
            key,
            value,
            dag_id=task_instance.dag_id,
            task_id=task_instance.task_id,
            run_id=task_instance.run_id,
            map_index=task_instance.map_index,
        )
    return TaskSuccessEvent()
