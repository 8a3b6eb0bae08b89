"""
DAGs whose generate tasks start on the triggerer (Airflow 3.3+); ``tests/test_generate_trigger.py``
runs their triggers in-process (``dag.test()`` starts every task in a worker).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator, LumaVideoUpscaleOperator

QUICK = {"poll_interval": 0.2, "timeout": 30, "deferrable": True, "retries": 0}
SIBLINGS = 3

with DAG(dag_id="luma_test_start", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageGenerateOperator(task_id="generate", prompt="a kingfisher on a branch", format="png", **QUICK)
    LumaImageGenerateOperator(
        task_id="stored", prompt="a kingfisher diving", output_path="file:///tmp/luma-start/", **QUICK
    )
    LumaImageGenerateOperator(
        task_id="announced", prompt="a kingfisher's nest", outlets=[Asset("luma://tests/nests")], **QUICK
    )
    LumaImageGenerateOperator(task_id="bad", prompt="a kingfisher", aspect_ratio="2:1", **QUICK)
    LumaImageGenerateOperator(task_id="opted_out", prompt="a kingfisher asleep", reattach=False, **QUICK)
    LumaImageGenerateOperator(task_id="credits", prompt="a costly kingfisher", min_credits=10**9, **QUICK)
    LumaImageGenerateOperator(task_id="capped", prompt="a capped kingfisher", max_cost=0.001, **QUICK)
    LumaImageGenerateOperator(task_id="reused", prompt="a kingfisher, kept", reuse_on_clear=True, **QUICK)
    LumaVideoUpscaleOperator(
        task_id="upscale", generation_id="00000000-0000-4000-8000-000000000000", resolution="4k", **QUICK
    )
    for number in range(SIBLINGS):  # identical requests, as variants of one prompt are
        LumaImageGenerateOperator(task_id=f"variant_{number}", prompt="a kingfisher in the rain", **QUICK)
