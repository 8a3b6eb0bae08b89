"""
DAGs of the start-on-triggerer scenarios (Airflow 3.3+: ``start_from_trigger``).

- ``e2e_luma_start``: ``url_only`` starts, waits and ends on the triggerer (no task process);
  ``stored`` starts there and resumes on a worker once, to copy the asset to ``output_path``;
  ``from_xcom`` takes its prompt from an XComArg, so it starts in a worker (the classic path).
  Each is read by a downstream task that checks the XComs it gets, as a user's next task would.
- ``e2e_luma_fast_start`` / ``e2e_luma_fast_classic``: 30 fast generations with the operator's
  defaults (``deferrable=True``, ``poll_interval=5``) and ``retries=0``: 30 unmapped tasks that
  start on the triggerer, and one task mapped over 30 prompts, which Airflow starts in workers.
- ``e2e_luma_start_kill``: one task whose triggerer is killed right after it sent the create.

Prompts carry the run id, so the emulator's generations tell runs apart.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

OUTPUT_DIR = os.environ.get("LUMA_E2E_OUTPUT_DIR", "/tmp/luma-e2e-output")
FAST_IMAGES = 30
QUICK = {"poll_interval": 1.0, "timeout": 600, "retries": 0, "deferrable": True}


def check_xcoms(upstream: str, stored: bool, **context: Any) -> None:
    """Fail unless ``upstream`` left the asset URL (or stored path) and the completed generation."""
    ti = context["ti"]
    result = ti.xcom_pull(task_ids=upstream)
    generation = ti.xcom_pull(task_ids=upstream, key="generation")
    generation_id = ti.xcom_pull(task_ids=upstream, key="generation_id")
    assert isinstance(generation, dict), f"generation XCom is a {type(generation).__name__}: {generation!r}"
    assert generation["state"] == "completed", generation
    assert generation["id"] == generation_id, (generation["id"], generation_id)
    assert isinstance(result, str), f"return_value XCom is a {type(result).__name__}: {result!r}"
    if stored:
        assert result.endswith(f"{generation_id}.png"), result
    else:
        assert result == generation["assets"]["image"], (result, generation["assets"])


with DAG(
    dag_id="e2e_luma_start",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):

    @task
    def subject() -> str:
        return "a heron in the reeds"

    tasks = {
        "url_only": LumaImageGenerateOperator(
            task_id="url_only", prompt="A gouache lighthouse (run {{ run_id }})", format="png", **QUICK
        ),
        "stored": LumaImageGenerateOperator(
            task_id="stored",
            prompt="A gouache windmill (run {{ run_id }})",
            format="png",
            output_path=f"{OUTPUT_DIR}/e2e_luma_start/",
            **QUICK,
        ),
        "from_xcom": LumaImageGenerateOperator(task_id="from_xcom", prompt=subject(), format="png", **QUICK),
    }
    for task_id, generate in tasks.items():
        generate >> PythonOperator(
            task_id=f"check_{task_id}",
            python_callable=check_xcoms,
            op_kwargs={"upstream": task_id, "stored": task_id == "stored"},
        )

FAST = {"retries": 0, "deferrable": True, "format": "jpg", "aspect_ratio": "1:1"}

with DAG(
    dag_id="e2e_luma_fast_start",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=FAST_IMAGES,
    tags=["e2e", "luma"],
):
    for number in range(FAST_IMAGES):
        LumaImageGenerateOperator(
            task_id=f"fast_{number:02d}", prompt=f"A quick sketch of a pebble, number {number}", **FAST
        )

with DAG(
    dag_id="e2e_luma_fast_classic",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=FAST_IMAGES,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator.partial(task_id="fast", **FAST).expand(
        prompt=[f"A quick sketch of a shell, number {number}" for number in range(FAST_IMAGES)]
    )

with DAG(
    dag_id="e2e_luma_start_kill",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator(
        task_id="generate", prompt="A woodcut of a stag in the mist (run {{ run_id }})", **QUICK
    )
