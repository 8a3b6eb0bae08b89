"""
A run whose XComs the hostile-data scenarios plant into (``tests/e2e/test_e2e_7_hostile_data.py``).

- ``generate``: a real generation copied to ``<LUMA_E2E_OUTPUT_DIR>/planted/``: the one stored copy
  the gallery may serve; its ``return_value`` and ``generation`` are then overwritten through the
  REST API, as a user allowed to edit XComs could.
- ``bystander``: a plain task (not a Luma one) whose XComs are planted the same way.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

OUTPUT_DIR = os.environ.get("LUMA_E2E_OUTPUT_DIR", "/tmp/luma-e2e-output")

with DAG(dag_id="e2e_luma_planted", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    LumaImageGenerateOperator(
        task_id="generate",
        prompt="a lighthouse whose copy is stored",
        format="png",
        output_path=f"file://{OUTPUT_DIR}/planted/",
        deferrable=True,
        poll_interval=1.0,
        retries=0,
    )
    EmptyOperator(task_id="bystander")
