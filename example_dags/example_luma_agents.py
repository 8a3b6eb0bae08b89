"""
Luma's Agents API: an image with ``uni-1``, its layers, and a ``ray-3.2`` video that starts from the
image, each kept in storage. Needs a ``luma_agents_default`` connection (type ``luma_agents``).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_luma.operators.luma import (
    LumaImageGenerateOperator,
    LumaImageLayersOperator,
    LumaVideoGenerateOperator,
)

OUTPUT = f"file://{os.environ.get('LUMA_EXAMPLE_OUTPUT_DIR', '/tmp/luma-images')}/agents/"

# [START agents]
with DAG(
    dag_id="example_luma_agents",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={"luma_conn_id": "luma_agents_default"},
    tags=["luma", "example"],
):
    image = LumaImageGenerateOperator(
        task_id="lantern",
        prompt="A paper lantern over a night market, ink and watercolour",
        model="uni-1",
        aspect_ratio="3:2",
        format="png",
        max_cost=0.05,  # uni-1: $0.0404 an image
    )
    layers = LumaImageLayersOperator(
        task_id="layers",
        source="{{ ti.xcom_pull(task_ids='lantern', key='generation_id') }}",  # the image, by its id
        prompt="the lantern apart from the market",
        output_path=OUTPUT,  # every layer: <generation id>-1.png, -2.png...
    )
    video = LumaVideoGenerateOperator(
        task_id="rising",
        prompt="The lantern drifts up into the dark",
        model="ray-3.2",
        keyframes={"frame0": image.output},  # starts from the image (its URL)
        resolution="720p",
        duration="5s",
        output_path=OUTPUT,
    )
    image >> layers
# [END agents]
