"""Generations in both waiting modes, copied to ``output_path`` or not: where hostile asset URLs are tried."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, BaseOperator

from airflow_provider_luma.links import LumaGenerationLink
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

for mode, deferrable in (("deferrable", True), ("worker", False)):
    with DAG(
        dag_id=f"luma_test_image_copy_{mode}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"output_path": "file:///tmp/luma-test-output/"},
    ):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt="a harbour at night",
            format="png",
            output_path="{{ params.output_path }}",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=20,
            retries=0,
        )

    # No copy: the asset URL is the task's return_value. One retry, to show a refused URL uses none.
    with DAG(dag_id=f"luma_test_image_url_{mode}", schedule=None, start_date=datetime(2025, 1, 1)):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt="a harbour at dawn",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=20,
            retries=1,
            retry_delay=0,
        )


class PlantsAGeneration(BaseOperator):
    """Pushes whatever ``generation`` it is given, as any task can: what the "Luma asset" link then reads."""

    operator_extra_links = (LumaGenerationLink(),)

    def execute(self, context: Any) -> None:
        url = context["params"]["asset_url"]
        generation = {"id": "planted", "state": "completed", "assets": {"image": url}}
        context["ti"].xcom_push(key="generation", value=generation)


with DAG(
    dag_id="luma_test_planted_link",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    params={"asset_url": "javascript:alert(1)"},
):
    PlantsAGeneration(task_id="plant")
