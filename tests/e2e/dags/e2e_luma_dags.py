"""
DAGs of the end-to-end harness, run by a real scheduler, LocalExecutor and triggerer.

- ``e2e_luma_mapped``: 24 deferrable generations from one mapped task, waited on together.
- ``e2e_luma_batch``: 5 deferrable generations, for the triggerer-crash scenario.
- ``e2e_luma_worker_mode``: one generation polled in the worker (not deferred): the control case
  showing that a task holding a worker slot is visible in the process table.
- ``e2e_luma_worker_crash``: one generation polled in the worker, with one retry, for the
  worker-crash scenario (the task process is killed after the create; the retry must re-attach).
  The prompt carries the run id, so the emulator's generations tell runs apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

SUBJECTS = (
    "fox",
    "heron",
    "lighthouse",
    "glacier",
    "orchard",
    "windmill",
    "canyon",
    "tram",
    "kite",
    "teapot",
    "violin",
    "cactus",
    "owl",
    "harbour",
    "volcano",
    "library",
    "meadow",
    "comet",
    "bridge",
    "coral reef",
    "bakery",
    "sailboat",
    "forest path",
    "observatory",
)
WAIT = {"poll_interval": 1.0, "timeout": 600, "retries": 0}

with DAG(
    dag_id="e2e_luma_mapped",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=len(SUBJECTS),
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator.partial(
        task_id="generate", aspect_ratio="1:1", format="png", deferrable=True, **WAIT
    ).expand(prompt=[f"A watercolour {subject} at golden hour" for subject in SUBJECTS])

with DAG(
    dag_id="e2e_luma_batch",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator.partial(task_id="generate", format="jpg", deferrable=True, **WAIT).expand(
        prompt=[f"A linocut {subject} on rough paper" for subject in SUBJECTS[:5]]
    )

with DAG(
    dag_id="e2e_luma_worker_mode",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator(
        task_id="generate", prompt="A pencil sketch of a sleeping cat", deferrable=False, **WAIT
    )

#: One retry, soon: the try after the crash must re-attach instead of creating again.
CRASH = {"poll_interval": 0.5, "timeout": 600, "retries": 1, "retry_delay": timedelta(seconds=2)}

with DAG(
    dag_id="e2e_luma_worker_crash",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator(
        task_id="generate",
        prompt="A charcoal drawing of a lighthouse in a storm (run {{ run_id }})",
        deferrable=False,
        **CRASH,
    )
