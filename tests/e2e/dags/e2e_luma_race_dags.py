"""
DAGs of the deferral-race experiment (``make e2e-deferral-race``; not part of ``make e2e``).

Each runs 30 fast generations from one mapped task (so every task starts in a worker and defers
from it), ``retries=0``, with one way of keeping Airflow from failing a resumed try whose
deferring process's exit it reads late (apache/airflow#66374):

- ``e2e_race_unguarded``: none; the trigger's first poll comes one ``poll_interval`` after the
  deferral, as before the hand-off hold;
- ``e2e_race_unguarded_fast_poll``: none, polling every second;
- ``e2e_race_handoff``: the provider's way, the trigger never resumes the task sooner than
  ``DEFERRAL_HANDOFF_SECONDS`` after the deferral;
- ``e2e_race_worker_grace``: the worker polls for up to 10 s before it defers, with no hold after.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_provider_luma.generations import GenerationState
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

IMAGES = 30
WORKER_GRACE_SECONDS = 10.0


class Unguarded(LumaImageGenerateOperator):
    """The wait as it was: no hold after the deferral."""

    deferral_handoff_seconds = 0.0


class WorkerGrace(Unguarded):
    """Poll in the worker for up to ``WORKER_GRACE_SECONDS`` first: a fast generation never defers."""

    def _defer_wait(self, generation_id: str, poll_interval: float, now: float, deadline: float) -> None:
        hook = self.hook
        while time.time() < now + WORKER_GRACE_SECONDS:
            time.sleep(1.0)
            if GenerationState.known(hook.get_generation(generation_id)).is_terminal:
                return  # execute() polls once more and finishes here
        super()._defer_wait(generation_id, poll_interval, time.time(), deadline)


def race_dag(dag_id: str, operator: type[LumaImageGenerateOperator], **kwargs: Any) -> None:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        max_active_tasks=IMAGES,
        tags=["e2e", "luma", "experiment"],
    ):
        operator.partial(
            task_id="fast", deferrable=True, retries=0, format="jpg", aspect_ratio="1:1", **kwargs
        ).expand(prompt=[f"A quick study of a {dag_id} pebble, number {n}" for n in range(IMAGES)])


race_dag("e2e_race_unguarded", Unguarded)
race_dag("e2e_race_unguarded_fast_poll", Unguarded, poll_interval=1.0)
race_dag("e2e_race_handoff", LumaImageGenerateOperator)
race_dag("e2e_race_worker_grace", WorkerGrace)
