"""
DAGs for the re-attach rules: what a try finds of the generation an earlier try of the same task
instance made (running, completed after a failed copy, failed, gone, another request, opted out),
and identical mapped siblings whose creates must never be mixed up.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from tests.dying import RETRY_ONCE, FirstTryDiesOperator

SIBLINGS = 4
#: What the first try does to its generation before it dies (emulator admin calls where needed).
FIRST_TRY_LEAVES = ("running", "failed", "gone")


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=datetime(2025, 1, 1))


for leaves in FIRST_TRY_LEAVES:
    with _dag(f"luma_test_reattach_{leaves}"):
        FirstTryDiesOperator(
            task_id="generate",
            prompt="a lighthouse that survives a crash",
            first_try_leaves=leaves,
            **RETRY_ONCE,
        )

with _dag("luma_test_reattach_changed_request"):
    # The prompt renders differently on each try: the first try's generation is not this request's.
    FirstTryDiesOperator(
        task_id="generate",
        prompt="a lighthouse, take {{ ti.try_number }}",
        first_try_leaves="running",
        **RETRY_ONCE,
    )

with _dag("luma_test_reattach_opted_out"):
    FirstTryDiesOperator(
        task_id="generate",
        prompt="a lighthouse, twice",
        first_try_leaves="running",
        reattach=False,
        **RETRY_ONCE,
    )

with _dag("luma_test_reattach_after_failed_copy"):
    # The test makes the first download of the asset fail: the copy, not the generation, failed.
    LumaImageGenerateOperator(
        task_id="generate",
        prompt="a lighthouse worth keeping",
        output_path=f"file://{os.environ.get('LUMA_EXAMPLE_OUTPUT_DIR', '/tmp')}/reattach/",
        deferrable=True,
        **RETRY_ONCE,
    )

with _dag("luma_test_identical_siblings"):
    # Variants of one prompt: identical requests, made at about the same time.
    LumaImageGenerateOperator.partial(task_id="variant", deferrable=True, **RETRY_ONCE).expand(
        prompt=["a lighthouse in the fog"] * SIBLINGS
    )

with _dag("luma_test_rate_limited_create"):
    # Deferrable: a 429 on the create is waited out on the triggerer, not in a worker's sleep.
    LumaImageGenerateOperator(
        task_id="generate", prompt="a lighthouse, once the queue moves", deferrable=True, **RETRY_ONCE
    )

with _dag("luma_test_hung_poll_in_worker"):
    LumaImageGenerateOperator(
        task_id="generate",
        prompt="a lighthouse that never answers",
        deferrable=False,
        poll_interval=0.2,
        timeout=2,
        delete_on_timeout=True,
    )

with _dag("luma_test_deleted_while_deferred"):
    FirstTryDiesOperator(
        task_id="generate",
        prompt="a lighthouse deleted by someone else",
        first_try_leaves="gone_while_deferred",
        deferrable=True,
        retries=2,
        retry_delay=timedelta(0),
        poll_interval=0.1,
        timeout=30,
    )
