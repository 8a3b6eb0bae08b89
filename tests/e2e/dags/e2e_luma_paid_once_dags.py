"""
DAGs of the paid-once scenarios (``test_e2e_10_paid_once.py``); each task starts on the triggerer.

- ``e2e_luma_one_prompt``: a static prompt, the same request in every run; its first try's
  create is lost (the test makes the emulator drop the answer and refuse the list) and its retry
  comes 20 s later, after another run made the same request.
- ``e2e_luma_record_planted``: ``plant`` writes a record for ``generate`` before it runs: another run's
  (``conf.replay_from``), or nothing while a REST API user plants one (``conf.hold`` seconds).
- ``e2e_luma_finished_then_failed``: its first try finishes (a worker copies the asset), then
  Airflow fails it anyway, as its deferral race does; one retry.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

OUTPUT_DIR = os.environ.get("LUMA_E2E_OUTPUT_DIR", "/tmp/luma-e2e-output")
QUICK: dict[str, Any] = {"poll_interval": 0.5, "timeout": 300, "deferrable": True, "format": "png"}
RECORD_XCOM_KEY = "luma_generation_record"


def _dag(dag_id: str) -> DAG:
    start = datetime(2025, 1, 1)
    return DAG(dag_id=dag_id, schedule=None, start_date=start, catchup=False, tags=["e2e", "luma"])


with _dag("e2e_luma_one_prompt"):
    LumaImageGenerateOperator(
        task_id="generate",
        prompt="A lighthouse at dawn, the same every morning",
        retries=1,
        retry_delay=timedelta(seconds=20),
        settle_time=2,
        **QUICK,
    )

with _dag("e2e_luma_record_planted"):

    @task
    def plant(dag_run: Any = None, ti: Any = None) -> None:
        """Write ``generate``'s record, as any task may: another run's, replayed."""
        from airflow.providers.common.compat.sdk import XCom

        conf = dag_run.conf or {}
        if conf.get("replay_from"):
            replayed = XCom.get_one(
                key=RECORD_XCOM_KEY, dag_id=ti.dag_id, task_id="generate", run_id=conf["replay_from"]
            )
            XCom.set(RECORD_XCOM_KEY, replayed, dag_id=ti.dag_id, task_id="generate", run_id=ti.run_id)
        time.sleep(float(conf.get("hold", 0)))  # a REST API user plants one meanwhile

    plant() >> LumaImageGenerateOperator(
        task_id="generate", prompt="A linocut of a heron (run {{ run_id }})", retries=0, **QUICK
    )


class FinishedThenFailed(LumaImageGenerateOperator):
    """Its first try finishes, then fails: what Airflow does to a try its deferral race catches."""

    def _finish(self, context: Any, generation: dict[str, Any], **kwargs: Any) -> Any:
        result = super()._finish(context, generation, **kwargs)
        if context["ti"].try_number == 1:
            raise RuntimeError("Airflow failed this try after it finished (a stale executor event)")
        return result


with _dag("e2e_luma_finished_then_failed"):
    FinishedThenFailed(
        task_id="generate",
        prompt="A cyanotype of a fern (run {{ run_id }})",
        output_path=f"{OUTPUT_DIR}/e2e_luma_finished_then_failed/",
        retries=1,
        retry_delay=timedelta(seconds=1),
        **QUICK,
    )
