"""
Example: generate an image with Luma, a styled variant of it, wait on its id, and download it.

Needs a ``luma_default`` connection (API key in the password). ``make demo`` runs this DAG against
the bundled emulator; with ``LUMAAI_API_KEY`` set it runs against the real API.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from airflow_provider_luma.sensors.luma import LumaGenerationSensor

# Real generations take tens of seconds; tests and the demo poll the emulator faster.
POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "5"))
OUTPUT_DIR = os.environ.get("LUMA_EXAMPLE_OUTPUT_DIR", "/tmp/luma-images")

with DAG(
    dag_id="example_luma_image",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "luma"],
    params={"prompt": "A lighthouse on a basalt cliff at dawn, oil painting"},
) as dag:
    # [START howto_operator_luma_image_generate]
    # Text to image. Deferrable: the wait runs on the triggerer, not in a worker slot.
    text_to_image = LumaImageGenerateOperator(
        task_id="text_to_image",
        prompt="{{ params.prompt }}",
        model="photon-1",
        aspect_ratio="16:9",
        format="png",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_image_generate]

    # [START howto_operator_luma_image_references]
    # A variant that takes its style from the first image (the URL comes from XCom).
    styled_variant = LumaImageGenerateOperator(
        task_id="styled_variant",
        prompt="The same lighthouse in a winter storm, in the style of the reference",
        model="photon-flash-1",
        aspect_ratio="1:1",
        style_ref=[{"url": "{{ ti.xcom_pull(task_ids='text_to_image') }}", "weight": 0.8}],
        image_ref=[{"url": "{{ ti.xcom_pull(task_ids='text_to_image') }}", "weight": 0.3}],
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_image_references]

    # [START howto_sensor_luma_generation]
    # Wait on a generation by id: here the first one's, as another system's would be.
    wait_for_first = LumaGenerationSensor(
        task_id="wait_for_first",
        generation_id="{{ ti.xcom_pull(task_ids='text_to_image', key='generation_id') }}",
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=30 * 60,
    )
    # [END howto_sensor_luma_generation]

    @task
    def download(url: str, name: str) -> str:
        """Save the image behind ``url`` (asset URLs can expire) and return the file's path."""
        import requests

        target_dir = Path(OUTPUT_DIR)
        target_dir.mkdir(parents=True, exist_ok=True)
        with requests.get(url, stream=True, timeout=(5, 60)) as response:
            response.raise_for_status()
            suffix = ".png" if "png" in response.headers.get("content-type", "") else ".jpg"
            path = target_dir / f"{name}{suffix}"
            with path.open("wb") as out:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    out.write(chunk)
        print(f"Saved {url} to {path}")
        return str(path)

    first_file = download(wait_for_first.output, "lighthouse")
    variant_file = download.override(task_id="download_variant")(styled_variant.output, "lighthouse_variant")
    text_to_image >> [styled_variant, wait_for_first]
