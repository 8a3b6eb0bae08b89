"""
Example: 20 images from 20 prompts with dynamic task mapping, each stored to object storage, then a
fan-in that collects the stored paths: the alternative to one batch task
(``example_luma_batch.py``), for when each image needs its own task instance (its own retries,
its own row in the grid). It costs more: Airflow starts no mapped task on the triggerer, so each
image starts in a worker, and the docs' "Batches" page has the figures of each way.

Luma runs at most 40 Photon generations at once per account on the Build tier. The pool below
makes Airflow respect that: with ``include_deferred=True`` a deferred task (waiting on the
triggerer) still holds its pool slot, so no more than 40 generations are ever in flight, whatever
``max_active_tis_per_dag`` or the number of runs. Create it once (the size is the tier's limit)::

    airflow pools set luma_photon 40 "Luma Photon concurrent generations" --include-deferred

Creates per minute are limited too (80 on the Build tier); the hook retries the 429 that Luma
answers beyond it, honouring Retry-After, and a create is only ever re-sent when it created nothing.
Writes go to ``OUTPUT_URL`` (``file://`` here; ``s3://bucket/prefix/`` works the same way with the
Amazon provider installed).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "5"))
OUTPUT_URL = os.environ.get("LUMA_EXAMPLE_OUTPUT_URL", "file:///tmp/luma-images/batch/")
LUMA_POOL = "luma_photon"
PRODUCT_SHOTS = Asset("luma://example/product-shots")

SUBJECTS = [
    "a ceramic teapot",
    "a leather backpack",
    "a pair of running shoes",
    "a wooden chess set",
    "a copper kettle",
    "a linen shirt",
    "a glass perfume bottle",
    "a vintage camera",
    "a porcelain vase",
    "a wool scarf",
    "a bamboo cutting board",
    "a brass desk lamp",
    "a silver wristwatch",
    "a cast-iron skillet",
    "a felt hat",
    "a marble coaster set",
    "a canvas tote bag",
    "a walnut bookshelf",
    "a stoneware mug",
    "a silk tie",
]

with DAG(
    dag_id="example_luma_mapped",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "luma"],
) as dag:
    # [START howto_operator_luma_image_mapped]
    shots = LumaImageGenerateOperator.partial(
        task_id="product_shot",
        model="photon-flash-1",
        aspect_ratio="1:1",
        format="png",
        output_path=OUTPUT_URL,
        outlets=[PRODUCT_SHOTS],
        pool=LUMA_POOL,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        retries=2,
    ).expand(
        prompt=[f"Studio product photo of {subject}, soft light, white background" for subject in SUBJECTS]
    )
    # [END howto_operator_luma_image_mapped]

    @task
    def collect(paths: list[str]) -> list[str]:
        """Fan-in: every stored image's path, for a catalogue job downstream."""
        stored = sorted(paths)
        print(f"{len(stored)} product shots stored:", *stored, sep="\n  ")
        return stored

    collect(shots.output)
