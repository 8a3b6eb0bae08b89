"""
DAGs for ``max_run_cost``, the budget of a DAG run across its Luma tasks (photon-1 is priced at
$0.0073 an image, so $0.01 pays for one and not two).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageBatchOperator, LumaImageGenerateOperator
from tests.dying import RETRY_ONCE, FirstTryDiesOperator

FAST = {"poll_interval": 0.2, "timeout": 30, "retries": 0, "deferrable": False}
ONE_IMAGE = 0.01

with DAG(
    dag_id="luma_test_run_budget",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    default_args={"max_run_cost": ONE_IMAGE},
):
    first = LumaImageGenerateOperator(task_id="first", prompt="a lighthouse at dawn", **FAST)
    second = LumaImageGenerateOperator(task_id="second", prompt="a lighthouse at dusk", **FAST)
    first >> second

with DAG(dag_id="luma_test_run_budget_mapped", schedule=None, start_date=datetime(2025, 1, 1)):
    # Three mapped images under a budget for two ($0.015): the map indexes share it.
    LumaImageGenerateOperator.partial(task_id="shots", max_run_cost=0.015, **FAST).expand(
        prompt=["a lighthouse at dawn", "a lighthouse at noon", "a lighthouse at dusk"]
    )

with DAG(dag_id="luma_test_run_budget_batch", schedule=None, start_date=datetime(2025, 1, 1)):
    # Two images at $0.0073: the batch claims both before its first create, and they do not fit.
    LumaImageBatchOperator(
        task_id="images",
        requests=["a lighthouse at dawn", "a lighthouse at dusk"],
        model="photon-1",
        max_run_cost=ONE_IMAGE,
        **FAST,
    )

# A retry: the first try creates, leaves its generation deleted (paid, gone) or failed (refunded
# by Luma), and dies; the second try must create again.
for leaves in ("gone", "failed"):
    with DAG(dag_id=f"luma_test_run_budget_retry_{leaves}", schedule=None, start_date=datetime(2025, 1, 1)):
        FirstTryDiesOperator(
            task_id="generate",
            prompt="a lighthouse that survives a crash",
            first_try_leaves=leaves,
            max_run_cost=ONE_IMAGE,
            **RETRY_ONCE,
        )

with DAG(dag_id="luma_test_run_budget_start", schedule=None, start_date=datetime(2025, 1, 1)):
    # Started on the triggerer (Airflow 3.3+) by tests/test_run_budget.py, both at once.
    for side in ("left", "right"):
        LumaImageGenerateOperator(
            task_id=side,
            prompt=f"a kingfisher on the {side} bank",
            max_run_cost=ONE_IMAGE,
            poll_interval=0.2,
            timeout=30,
            deferrable=True,
            retries=0,
        )
    # A batch that starts on the triggerer claims its creates there, both at once: they do not fit.
    LumaImageBatchOperator(
        task_id="pair",
        requests=["a kingfisher at dawn", "a kingfisher at dusk"],
        model="photon-1",
        max_run_cost=ONE_IMAGE,
        poll_interval=0.2,
        timeout=30,
        deferrable=True,
        retries=0,
    )
