"""A generation whose request and answer carry signed URLs, in both waiting modes: what the logs show."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

for mode, deferrable in (("deferrable", True), ("worker", False)):
    with DAG(
        dag_id=f"luma_test_signed_urls_{mode}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"callback_url": "", "reference_url": "", "output_path": ""},
    ):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt="a lighthouse in a storm",
            callback_url="{{ params.callback_url }}",
            image_ref=[{"url": "{{ params.reference_url }}", "weight": 0.5}],
            output_path="{{ params.output_path }}",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=20,
            retries=0,
        )
