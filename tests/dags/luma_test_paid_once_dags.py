"""
DAGs for "paid once, and the right image": a create whose answer is lost (the tests choose how: a
busy account, a late listing), another run's identical request made while a retry was pending, a
record planted by another task, and a try Airflow fails after it finished.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

RETRY_ONCE: dict[str, Any] = {"retries": 1, "retry_delay": timedelta(0), "poll_interval": 0.1, "timeout": 60}
#: The other run creates the same request this long after the first try lost its create: past the
#: window that create could have made a generation in (its loss, plus Luma's clock skew of 10 s).
ANOTHER_RUN_AFTER_SECONDS = 11.5


def _dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=datetime(2025, 1, 1), **kwargs)


with _dag("luma_test_lost_create"):
    LumaImageGenerateOperator(
        task_id="generate", prompt="a lighthouse, paid once", deferrable=False, **RETRY_ONCE
    )


class AnotherRunMeanwhile(LumaImageGenerateOperator):
    """Before its retry, another run of the DAG makes the very same request (a catch-up, a backfill)."""

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number == 2:
            from airflow_provider_luma.hooks.luma import LumaHook

            time.sleep(ANOTHER_RUN_AFTER_SECONDS)
            request = self.build_request()
            another_run = LumaHook().create_generation(request.path, request.body)
            self.log.info("Another run created %s with the same request", another_run["id"])
        return super().execute(context)


with _dag("luma_test_another_run"):
    AnotherRunMeanwhile(task_id="generate", prompt="a lighthouse every morning", **RETRY_ONCE)


with _dag("luma_test_planted_record", params={"planted_generation_id": ""}):

    @task
    def plant(**context: Any) -> None:
        """What any task, or a REST API user, may write: a record for ``generate`` in its state store."""
        from airflow._shared.state import TaskScope
        from airflow.state.metastore import _get_db_backend
        from airflow.utils.session import create_session

        from airflow_provider_luma.kinds import build_request

        ti = context["ti"]
        request = build_request("image", {"prompt": "a lighthouse of my own", "model": "photon-1"})
        planted = {
            "request": request.fingerprint,
            "generation_id": context["params"]["planted_generation_id"],
        }
        with create_session() as session:
            scope = TaskScope(dag_id=ti.dag_id, run_id=ti.run_id, task_id="generate", map_index=-1)
            _get_db_backend().set(
                scope, "luma_generation", json.dumps(planted), expires_at=None, session=session
            )

    plant() >> LumaImageGenerateOperator(
        task_id="generate", prompt="a lighthouse of my own", deferrable=False, **RETRY_ONCE
    )


class FailedAfterItFinished(LumaImageGenerateOperator):
    """Its first try finishes, then Airflow fails it anyway (the deferral race, apache/airflow#72716)."""

    def _finish(self, context: Any, generation: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = super()._finish(context, generation, *args, **kwargs)
        if context["ti"].try_number == 1:
            raise RuntimeError("Airflow failed this try after it finished (a stale executor event)")
        return result


for mode, deferrable in (("worker", False), ("deferrable", True)):
    with _dag(f"luma_test_failed_after_finishing_{mode}"):
        FailedAfterItFinished(
            task_id="generate", prompt=f"a lighthouse, finished ({mode})", deferrable=deferrable, **RETRY_ONCE
        )
