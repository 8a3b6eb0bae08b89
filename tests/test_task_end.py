"""
Which deferred tasks the triggerer may end: only those with nothing left for a worker after the wait.

The ending itself (XComs, extra link, one task process) runs against a real triggerer in
``tests/e2e/test_e2e_6_task_end.py``; the trigger's side of it in ``tests/test_trigger.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import Asset

from airflow_provider_luma.operators._memory import TaskMemory
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from airflow_provider_luma.triggers._task_end import SUPPORTED

#: Airflow 3.3 passes its task state store in the context; the decision only asks whether there is one.
SOME_STORE = object()


@pytest.mark.parametrize(
    ("kwargs", "store", "ends_there"),
    [
        pytest.param({}, None, True, id="nothing left"),
        pytest.param({"output_path": "file:///tmp/luma/"}, None, False, id="a copy to make"),
        pytest.param({"outlets": [Asset("luma://images")]}, None, False, id="an Asset event to emit"),
        pytest.param({}, SOME_STORE, False, id="a task state store record to forget"),
    ],
)
def test_only_a_task_with_nothing_left_for_a_worker_ends_on_the_triggerer(
    kwargs: dict[str, Any], store: Any, ends_there: bool
) -> None:
    operator = LumaImageGenerateOperator(task_id="generate", prompt="a lighthouse at dawn", **kwargs)
    assert operator._nothing_left_for_a_worker(TaskMemory(store)) is (ends_there and SUPPORTED)


def test_openlineage_configured_keeps_the_worker_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenLineage reports a task's completion from the worker: a triggerer-ended task would lack it."""
    openlineage_conf = pytest.importorskip("airflow.providers.openlineage.conf")
    # Older OpenLineage providers read their configuration once per process.
    forget_configuration = getattr(openlineage_conf.is_disabled, "cache_clear", lambda: None)
    operator = LumaImageGenerateOperator(task_id="generate", prompt="a lighthouse at dawn")
    forget_configuration()
    assert operator._nothing_left_for_a_worker(TaskMemory(None)) is SUPPORTED
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9/")
    forget_configuration()
    try:
        assert operator._nothing_left_for_a_worker(TaskMemory(None)) is False
    finally:
        monkeypatch.undo()
        forget_configuration()
