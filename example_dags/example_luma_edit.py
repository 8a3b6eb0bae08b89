"""
Example: edit what Luma made. Reframe an image to another aspect ratio; restyle, reframe and add
audio to a video; delete a generation that is no longer needed.

Needs a ``luma_default`` connection. Each step is a paid generation: try it against the bundled
emulator first (``make demo`` shows how the connection points at it).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import (
    LumaDeleteGenerationOperator,
    LumaImageGenerateOperator,
    LumaImageReframeOperator,
    LumaVideoAddAudioOperator,
    LumaVideoGenerateOperator,
    LumaVideoModifyOperator,
    LumaVideoReframeOperator,
)

POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "10"))
IMAGE_URL = "{{ ti.xcom_pull(task_ids='harbour') }}"
VIDEO_URL = "{{ ti.xcom_pull(task_ids='waves') }}"
VIDEO_ID = "{{ ti.xcom_pull(task_ids='waves', key='generation_id') }}"

with DAG(
    dag_id="example_luma_edit",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "luma"],
) as dag:
    harbour = LumaImageGenerateOperator(
        task_id="harbour",
        prompt="A fishing harbour at low tide, watercolour",
        aspect_ratio="16:9",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )

    # [START howto_operator_luma_image_reframe]
    # Extend the image to portrait: Luma paints the new sky and water.
    tall_harbour = LumaImageReframeOperator(
        task_id="tall_harbour",
        media_url=IMAGE_URL,
        aspect_ratio="9:16",
        prompt="More sky with gulls above the harbour",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_image_reframe]

    waves = LumaVideoGenerateOperator(
        task_id="waves",
        prompt="Waves breaking on the harbour wall",
        resolution="720p",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )

    # [START howto_operator_luma_video_modify]
    # Restyle the video; modes go from adhere_1..3 (close to the source) to reimagine_1..3.
    restyled = LumaVideoModifyOperator(
        task_id="restyled",
        media_url=VIDEO_URL,
        mode="flex_1",
        prompt="The same waves as a pencil sketch",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_video_modify]

    # [START howto_operator_luma_video_reframe]
    square = LumaVideoReframeOperator(
        task_id="square",
        media_url=VIDEO_URL,
        aspect_ratio="1:1",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_video_reframe]

    # [START howto_operator_luma_video_add_audio]
    with_sound = LumaVideoAddAudioOperator(
        task_id="with_sound",
        generation_id=VIDEO_ID,
        prompt="Waves, wind and gulls",
        negative_prompt="music",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    # [END howto_operator_luma_video_add_audio]

    # [START howto_operator_luma_delete_generation]
    # The landscape original is not needed once the portrait exists.
    forget_original = LumaDeleteGenerationOperator(
        task_id="forget_original",
        generation_id="{{ ti.xcom_pull(task_ids='harbour', key='generation_id') }}",
    )
    # [END howto_operator_luma_delete_generation]

    harbour >> tall_harbour >> forget_original
    waves >> [restyled, square, with_sound]
