"""
Example: 20 product shots in one batch task, each stored to object storage, then a fan-in that
collects the stored paths.

One task makes every image: on Airflow 3.3 it starts, runs and waits on the triggerer (one
trigger for the whole batch), and resumes on a worker once, to copy the images to ``OUTPUT_URL``
(``file://`` here; ``s3://bucket/prefix/`` works the same way with the Amazon provider installed).
At most ``max_in_flight`` images are in flight at once (by default, and at most, the 40 Photon
generations Luma's Build tier allows a key), and creates are paced under the tier's 80 a minute.
Each image is paid once; a retry makes only the images that did not complete.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_luma.operators.luma import LumaImageBatchOperator

POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "5"))
OUTPUT_URL = os.environ.get("LUMA_EXAMPLE_OUTPUT_URL", "file:///tmp/luma-images/batch/")
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
    dag_id="example_luma_batch",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "luma"],
) as dag:
    # [START howto_operator_luma_image_batch]
    shots = LumaImageBatchOperator(
        task_id="product_shots",
        # Each item is a prompt, or a dict of LumaImageGenerateOperator's parameters.
        requests=[f"Studio product photo of {subject}, soft light, white background" for subject in SUBJECTS],
        # Every item's defaults:
        model="photon-flash-1",
        aspect_ratio="1:1",
        format="png",
        output_path=OUTPUT_URL,
        outlets=[PRODUCT_SHOTS],
        allowed_failures=0.1,  # up to 2 of the 20 may fail (moderation, say) and the task succeeds
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        retries=2,
    )
    # [END howto_operator_luma_image_batch]

    @task
    def collect(paths: list[str | None]) -> list[str]:
        """Fan-in: every stored image's path (None for an image that failed), for a catalogue job."""
        stored = sorted(path for path in paths if path)
        print(f"{len(stored)} product shots stored:", *stored, sep="\n  ")
        return stored

    collect(shots.output)
