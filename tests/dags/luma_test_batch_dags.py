"""
Batch DAGs: ``tests/test_batches.py`` runs them with ``dag.test()`` (the worker's path), and runs the
triggers of ``luma_test_batch_start`` in-process the way a triggerer does (Airflow 3.3+).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_luma.operators.luma import LumaImageBatchOperator, LumaVideoBatchOperator

QUICK = {"poll_interval": 0.2, "timeout": 30, "retries": 0}
#: Five items, two of them identical: each is its own generation.
FIVE = [
    "a lighthouse at dawn",
    {"prompt": "a lighthouse at dusk", "aspect_ratio": "1:1"},
    "a lighthouse at dawn",
    {"prompt": "a lighthouse in fog", "format": "png"},
    "a lighthouse under stars",
]
#: Where the copies of ``luma_test_batch_stored`` go.
STORED = os.environ.get("LUMA_EXAMPLE_OUTPUT_URL", "file:///tmp/luma-test-batch/")

for mode, deferrable in (("deferrable", True), ("worker", False)):
    with DAG(dag_id=f"luma_test_batch_{mode}", schedule=None, start_date=datetime(2025, 1, 1)):
        LumaImageBatchOperator(
            task_id="images",
            requests=FIVE,
            aspect_ratio="16:9",
            max_in_flight=2,
            deferrable=deferrable,
            **QUICK,
        )

with DAG(dag_id="luma_test_batch_failures", schedule=None, start_date=datetime(2025, 1, 1)):
    three = ["a quiet harbour", "something forbidden in the harbour", "a harbour at night"]
    LumaImageBatchOperator(task_id="within", requests=three, allowed_failures=1, deferrable=True, **QUICK)
    LumaImageBatchOperator(task_id="beyond", requests=three, allowed_failures=0.3, deferrable=True, **QUICK)

with DAG(dag_id="luma_test_batch_bad", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageBatchOperator(task_id="not_an_item", requests=["a fine prompt", 42], **QUICK)
    LumaImageBatchOperator(
        task_id="unknown", requests=["a fine prompt", {"prompt": "another", "duration": "5s"}], **QUICK
    )
    LumaImageBatchOperator(
        task_id="bad_value", requests=["a fine prompt", {"prompt": "x", "aspect_ratio": "1:1"}], **QUICK
    )

with DAG(dag_id="luma_test_batch_stored", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageBatchOperator(
        task_id="stored",
        requests=["a red kite", "a red kite", "a red kite over hills"],
        output_path=STORED,
        outlets=[Asset("luma://tests/kites")],
        deferrable=True,
        **QUICK,
    )

with DAG(dag_id="luma_test_batch_from_xcom", schedule=None, start_date=datetime(2025, 1, 1)):

    @task
    def catalog(**context) -> list:
        return context["dag_run"].conf.get("requests") or ["a teapot", "a teacup"]

    LumaImageBatchOperator(task_id="images", requests=catalog(), deferrable=True, **QUICK)

    @task.luma_image_batch(deferrable=True, aspect_ratio="1:1", **QUICK)
    def decorated(**context) -> list:
        return [f"a {colour} teapot" for colour in ("green", "blue")]

    decorated()

    @task.luma_video_batch(deferrable=True, **QUICK)
    def videos() -> list:
        return ["a teapot pouring", {"prompt": "a teapot spinning", "duration": "9s"}]

    videos()

with DAG(dag_id="luma_test_batch_start", schedule=None, start_date=datetime(2025, 1, 1)):
    # Plain values: on Airflow 3.3 these start on the triggerer.
    LumaImageBatchOperator(task_id="images", requests=FIVE, max_in_flight=2, deferrable=True, **QUICK)
    LumaImageBatchOperator(
        task_id="some_fail",
        requests=["a calm sea", "a forbidden sea", "a stormy sea"],
        allowed_failures=0,
        deferrable=True,
        **QUICK,
    )
    LumaVideoBatchOperator(task_id="videos", requests=["a wave", "a wave breaking"], deferrable=True, **QUICK)
    LumaImageBatchOperator(
        task_id="reused",
        requests=["a calm lake", "a lake at dusk"],
        reuse_on_clear=True,
        deferrable=True,
        **QUICK,
    )
