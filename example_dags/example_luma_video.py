"""
Example: text to video, extend that video with a keyframe that refers to the first generation,
then upscale the extension and copy it to storage.

Needs a ``luma_default`` connection. Videos cost more than images: try it against the bundled
emulator first (``make demo`` shows how the connection points at it).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import LumaVideoGenerateOperator, LumaVideoUpscaleOperator

POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "10"))
OUTPUT_DIR = os.environ.get("LUMA_EXAMPLE_OUTPUT_DIR", "/tmp/luma-images")

with DAG(
    dag_id="example_luma_video",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "luma"],
) as dag:
    # [START howto_operator_luma_video_generate]
    first_shot = LumaVideoGenerateOperator(
        task_id="first_shot",
        prompt="A paper boat drifting down a rain-soaked street at dusk",
        model="ray-flash-2",
        resolution="720p",
        duration="5s",
        aspect_ratio="16:9",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_video_generate]

    # [START howto_operator_luma_video_extend]
    # frame0 is the first generation: Luma continues that video instead of starting anew.
    extension = LumaVideoGenerateOperator(
        task_id="extend",
        prompt="The paper boat sails into a glowing storm drain",
        model="ray-flash-2",
        keyframes={"frame0": "{{ ti.xcom_pull(task_ids='first_shot', key='generation_id') }}"},
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_video_extend]

    # [START howto_operator_luma_video_upscale]
    upscaled = LumaVideoUpscaleOperator(
        task_id="upscale",
        generation_id="{{ ti.xcom_pull(task_ids='extend', key='generation_id') }}",
        resolution="1080p",
        output_path=f"file://{OUTPUT_DIR}/videos/",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_video_upscale]

    first_shot >> extension >> upscaled
