"""
DAGs of the batch scenarios (Airflow 3.3+: one batch task starts, runs and ends on the triggerer).

- ``e2e_luma_batch_task``: 12 images in one ``LumaImageBatchOperator`` task, at most 4 in flight, then a
  downstream task that checks the list and the manifest it pulls, as a user's next task would.
- ``e2e_luma_batch_task_kill``: 6 images whose triggerer is killed while they are in flight.
- ``e2e_luma_batch_task_retry``: 3 images whose ``requests`` come from an upstream task (so the batch
  starts in a worker and defers once), one of which fails; the retry makes only that one again.

Prompts carry the run id (rendered by the triggerer), so the emulator's generations tell runs apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task

from airflow_provider_luma.operators.luma import LumaImageBatchOperator

BATCH_IMAGES = 12
KILLED_IMAGES = 6
QUICK = {"poll_interval": 1.0, "timeout": 600, "retries": 0, "deferrable": True}


def check_batch(upstream: str, items: int, **context: Any) -> None:
    """Fail unless ``upstream`` left ``items`` URLs, in order, and a manifest of as many completed items."""
    ti = context["ti"]
    urls = ti.xcom_pull(task_ids=upstream)
    batch = ti.xcom_pull(task_ids=upstream, key="batch")
    assert isinstance(urls, list), urls
    assert len(urls) == items, urls
    assert (batch["total"], batch["succeeded"], batch["failed"]) == (items, items, 0), batch
    assert [item["url"] for item in batch["items"]] == urls, (batch, urls)
    assert len({item["generation_id"] for item in batch["items"]}) == items, batch


for dag_id, count, in_flight in (
    ("e2e_luma_batch_task", BATCH_IMAGES, 4),
    ("e2e_luma_batch_task_kill", KILLED_IMAGES, 6),
):
    with DAG(
        dag_id=dag_id, schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["e2e", "luma"]
    ):
        LumaImageBatchOperator(
            task_id="batch",
            # Two identical items: two generations.
            requests=["A linocut of a fox (run {{ run_id }})"] * 2
            + [f"A linocut of animal {number} (run {{{{ run_id }}}})" for number in range(count - 2)],
            format="jpg",
            max_in_flight=in_flight,
            **QUICK,
        ) >> PythonOperator(
            task_id="check", python_callable=check_batch, op_kwargs={"upstream": "batch", "items": count}
        )

with DAG(
    dag_id="e2e_luma_batch_task_retry",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):

    @task
    def catalog(**context: Any) -> list[str]:
        run_id = context["run_id"]
        return [
            f"A linocut held back (run {run_id})",
            f"A linocut of a hare (run {run_id})",
            f"A linocut of an owl (run {run_id})",
        ]

    LumaImageBatchOperator(
        task_id="batch",
        requests=catalog(),
        format="jpg",
        **{**QUICK, "retries": 1},
        retry_delay=timedelta(seconds=3),
    )
