"""DAGs the tests run with ``dag.test()``; their inputs come from ``params`` / ``run_conf``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from airflow_provider_luma.sensors.luma import LumaGenerationSensor

FAST = {"poll_interval": 0.2, "timeout": 20, "retries": 0}

for mode, deferrable in (("deferrable", True), ("worker", False)):
    with DAG(
        dag_id=f"luma_test_image_{mode}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"prompt": "a red fox in fresh snow", "format": "png", "aspect_ratio": "16:9", "timeout": 20},
    ):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt="{{ params.prompt }}",
            format="{{ params.format }}",
            aspect_ratio="{{ params.aspect_ratio }}",
            deferrable=deferrable,
            **FAST,
        )

    with DAG(
        dag_id=f"luma_test_sensor_{mode}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"generation_id": "00000000-0000-4000-8000-000000000000"},
    ):
        LumaGenerationSensor(
            task_id="wait",
            generation_id="{{ params.generation_id }}",
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=20,
            retries=0,
        )

    with DAG(dag_id=f"luma_test_timeout_{mode}", schedule=None, start_date=datetime(2025, 1, 1)):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt="a slow sunrise that takes forever",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=1.0,
            retries=0,
        )

with DAG(
    dag_id="luma_test_bad_input",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    params={"aspect_ratio": "2:1"},
):
    LumaImageGenerateOperator(
        task_id="generate",
        prompt="a perfectly fine prompt",
        aspect_ratio="{{ params.aspect_ratio }}",
        deferrable=True,
        retries=0,
    )

# A model this provider does not list goes to Luma; Luma's 400 for it is final (retries unused).
for mode, deferrable in (("deferrable", True), ("worker", False)):
    with DAG(
        dag_id=f"luma_test_open_model_{mode}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"model": "photon-9"},
    ):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt="a lighthouse drawn by a model Luma has not released",
            model="{{ params.model }}",
            deferrable=deferrable,
            poll_interval=0.2,
            timeout=20,
            retries=2,
            retry_delay=timedelta(0),
        )
