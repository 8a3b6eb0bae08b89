"""A DAG whose lineage is checked: references in, a stored file out (see tests/test_lineage.py)."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

OUTPUT_DIR = os.environ.get("LUMA_EXAMPLE_OUTPUT_DIR", "/tmp/luma-images")

with DAG(dag_id="luma_test_lineage", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageGenerateOperator(
        task_id="styled",
        prompt="a harbour at dawn in the style of the references",
        format="png",
        style_ref=[{"url": "https://cdn.example.com/styles/ink.png?X-Signature=abc", "weight": 0.7}],
        image_ref=["https://cdn.example.com/photos/harbour.jpg"],
        character_ref={"identity0": {"images": ["https://cdn.example.com/people/ada.jpg"]}},
        output_path=f"file://{OUTPUT_DIR}/lineage/",
        deferrable=True,
        poll_interval=0.2,
    )
