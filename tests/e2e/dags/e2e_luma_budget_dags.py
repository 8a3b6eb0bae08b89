"""
``e2e_luma_run_budget``: six Luma tasks that start together under one ``max_run_cost``, which pays
for four photon-1 images ($0.0073 each). Three start on the triggerer, three take their prompt from
an XComArg and so start in workers (the classic path): the budget holds across both.

Prompts carry the run id, so the emulator's generations tell runs apart.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

#: Four photon-1 images ($0.0292) fit; a fifth ($0.0365) does not.
MAX_RUN_COST = 0.03
QUICK = {"poll_interval": 1.0, "timeout": 600, "retries": 0, "deferrable": True}

with DAG(
    dag_id="e2e_luma_run_budget",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
    default_args={"max_run_cost": MAX_RUN_COST},
):

    @task
    def subject(run_id: str | None = None) -> str:
        return f"an otter, {run_id}"

    prompt = subject()
    for index in range(3):
        LumaImageGenerateOperator(
            task_id=f"on_triggerer_{index}", prompt=f"a heron {index}, {{{{ run_id }}}}", **QUICK
        )
        LumaImageGenerateOperator(task_id=f"in_worker_{index}", prompt=prompt, **QUICK)
