"""
DAGs of the re-roll scenarios: which generation a try waits on after a clear or a retry.

- ``e2e_luma_reroll_url``: deferrable, returns the asset URL; cleared after its success, it must
  make a new generation.
- ``e2e_luma_reroll_stored``: deferrable with ``output_path`` (a worker copies the asset);
  cleared after a success it makes a new generation, cleared after a failed copy it re-attaches,
  cleared after the prompt changed it creates anew.
- ``e2e_luma_reroll_retried``: the same with one automatic retry: a failed copy is retried on the
  same generation.

Prompts carry the run id (the emulator's generations tell runs apart) and, for the stored ones, a
Variable (a user fixing the prompt between two tries). Copies go to ``$LUMA_E2E_OUTPUT_DIR/<dag_id>/``,
named after the generation id.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

#: The Variable the stored DAGs' prompts read (a default when unset).
SUBJECT_VARIABLE = "e2e_luma_reroll_subject"
OUTPUT_DIR = os.environ.get("LUMA_E2E_OUTPUT_DIR", "/tmp/luma-e2e-output")
QUICK = {"poll_interval": 0.5, "timeout": 300, "deferrable": True, "format": "png"}
SUBJECT = "{{ var.value.get('" + SUBJECT_VARIABLE + "', 'a paper crane') }}"
STORED_PROMPT = f"A gouache painting of {SUBJECT} (run {{{{ run_id }}}})"

with DAG(
    dag_id="e2e_luma_reroll_url",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator(
        task_id="generate", prompt="A woodcut of a fox in the snow (run {{ run_id }})", retries=0, **QUICK
    )

for dag_id, retries in (("e2e_luma_reroll_stored", 0), ("e2e_luma_reroll_retried", 1)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["e2e", "luma"],
    ):
        LumaImageGenerateOperator(
            task_id="generate",
            prompt=STORED_PROMPT,
            output_path=f"{OUTPUT_DIR}/{dag_id}/",
            retries=retries,
            retry_delay=timedelta(seconds=1),
            **QUICK,
        )
