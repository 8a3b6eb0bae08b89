"""How the test DAGs make a worker's try die at a chosen point of the generation flow."""

from __future__ import annotations

from typing import Any


def after_create(run: Any, then: Any) -> Any:
    """
    ``run`` (a try's :class:`~airflow_provider_luma.runs.WorkerRun`) calls ``then(generation_id)``
    once the try has recorded the generation it created: where a worker that dies is killed.
    """
    from airflow_provider_luma.effects import Remember

    perform = run.perform

    def perform_then(effect: Any) -> Any:
        answer = perform(effect)
        if isinstance(effect, Remember) and effect.record.generation_id:
            then(effect.record.generation_id)
        return answer

    run.perform = perform_then
    return run


def crash(generation_id: str) -> None:
    raise RuntimeError(f"simulated worker crash after creating {generation_id}")
