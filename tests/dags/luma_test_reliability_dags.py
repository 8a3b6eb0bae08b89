"""DAGs for the reliability tests: a 200-generation chaos run and a task that dies after its create."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from tests.dying import after_create, crash

CHAOS_GENERATIONS = 200
#: Every tenth generation asks for the same prompt: 20 identical requests among the 200.
CHAOS_PROMPTS = [
    "chaos variants of one prompt" if n % 10 == 0 else f"chaos picture number {n}"
    for n in range(CHAOS_GENERATIONS)
]


class DiesAfterCreateOperator(LumaImageGenerateOperator):
    """Its first try dies right after the create, before it could wait: what a worker crash leaves."""

    def _run(self, context: Any) -> Any:
        run = super()._run(context)
        return after_create(run, crash) if context["ti"].try_number == 1 else run


with DAG(dag_id="luma_test_chaos", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageGenerateOperator.partial(
        task_id="generate",
        deferrable=True,
        poll_interval=0.1,
        timeout=120,
        settle_time=0.5,
        retries=3,
        retry_delay=timedelta(0),
    ).expand(prompt=CHAOS_PROMPTS)

for mode, deferrable in (("deferrable", True), ("worker", False)):
    with DAG(dag_id=f"luma_test_crash_{mode}", schedule=None, start_date=datetime(2025, 1, 1)):
        DiesAfterCreateOperator(
            task_id="generate",
            prompt="a lighthouse that survives a crash",
            deferrable=deferrable,
            poll_interval=0.1,
            timeout=30,
            retries=1,
            retry_delay=timedelta(0),
        )
