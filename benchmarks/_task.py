"""The task context the benchmarks hand to an operator's ``execute`` outside Airflow's task runner."""

from __future__ import annotations

from typing import Any


class TaskInstanceStub:
    """The parts of a task instance the operators use here: ``map_index`` and ``xcom_push``."""

    #: An unmapped task, as a real task instance says (the operator reads it on Airflow 3.3).
    map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:
        """
        Drop the XCom: no benchmark reads it.

        :param key: the XCom key.
        :param value: the value.
        """


def task_context() -> dict[str, Any]:
    """A minimal task context: a task instance, no ``task_state_store`` (no re-attach lookup)."""
    return {"ti": TaskInstanceStub()}
