"""
Where a deferred generate task ends: on the triggerer when nothing is left for a worker, else on a
worker.

- ``e2e_luma_task_end``: ``ends_on_triggerer`` (``reattach=False``, no ``output_path``, no outlets)
  and ``resumes_on_worker`` (the default ``reattach=True``: a worker must forget the generation in
  the task state store), each read by a downstream task that checks the XComs it gets, as a user's
  next task would use them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

WAIT = {"poll_interval": 1.0, "timeout": 600, "retries": 0, "deferrable": True}


def check_xcoms(upstream: str, **context: Any) -> None:
    """Fail unless ``upstream`` left the asset URL and the completed generation, with their types."""
    ti = context["ti"]
    url = ti.xcom_pull(task_ids=upstream)
    generation = ti.xcom_pull(task_ids=upstream, key="generation")
    generation_id = ti.xcom_pull(task_ids=upstream, key="generation_id")
    assert isinstance(generation, dict), f"generation XCom is a {type(generation).__name__}: {generation!r}"
    assert generation["state"] == "completed", generation
    assert generation["id"] == generation_id, (generation["id"], generation_id)
    assert isinstance(url, str), f"return_value XCom is a {type(url).__name__}: {url!r}"
    assert url.startswith("http"), f"return_value XCom is {url!r}"
    assert url == generation["assets"]["image"], (url, generation["assets"])


with DAG(
    dag_id="e2e_luma_task_end",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):
    for task_id, reattach in (("ends_on_triggerer", False), ("resumes_on_worker", True)):
        generate = LumaImageGenerateOperator(
            task_id=task_id, prompt=f"A gouache {task_id.replace('_', ' ')} sign", reattach=reattach, **WAIT
        )
        generate >> PythonOperator(
            task_id=f"check_{task_id}", python_callable=check_xcoms, op_kwargs={"upstream": task_id}
        )
