"""
DAGs on Luma's Agents API (``uni-1``, ``uni-1-max``, ``ray-3.2``) through the same operators, on the
``luma_agents_default`` connection: each generation type, in a worker and deferred (on Airflow
3.3+ a deferrable task starts on the triggerer), each copied by ``output_path``.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, task

from airflow_provider_luma.operators.luma import (
    LumaImageBatchOperator,
    LumaImageGenerateOperator,
    LumaImageLayersOperator,
    LumaVideoGenerateOperator,
    LumaVideoModifyOperator,
    LumaVideoReframeOperator,
)
from airflow_provider_luma.sensors.luma import LumaGenerationSensor

AGENTS = {"luma_conn_id": "luma_agents_default", "poll_interval": 0.2, "timeout": 60, "retries": 0}
#: Where the tests copy the outputs (a folder: each file is named after its generation id).
OUTPUT_FOLDER = "{{ params.out }}/"

for deferrable in (False, True):
    with DAG(
        dag_id=f"luma_test_agents_{'deferred' if deferrable else 'worker'}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"out": "/tmp"},
        default_args={**AGENTS, "deferrable": deferrable, "output_path": OUTPUT_FOLDER},
    ):
        image = LumaImageGenerateOperator(
            task_id="image",
            prompt="a paper lantern floating over a night market",
            model="uni-1",
            aspect_ratio="3:2",
            format="png",
            style="auto",
            image_ref=["https://example.com/lantern.png"],
            user_id="user-42",
        )
        edit = LumaImageGenerateOperator(
            task_id="image_edit",
            prompt="the same lantern, in daylight",
            model="uni-1-max",
            source="{{ ti.xcom_pull(task_ids='image', key='generation_id') }}",
        )
        video = LumaVideoGenerateOperator(
            task_id="video",
            prompt="the lantern rises slowly",
            model="ray-3.2",
            resolution="720p",
            duration="5s",
            keyframes={"frame0": "https://example.com/lantern.png"},
        )
        reframe = LumaVideoReframeOperator(
            task_id="video_reframe",
            media_url="{{ ti.xcom_pull(task_ids='video', key='generation_id') }}",
            aspect_ratio="9:16",
            model="ray-3.2",
            prompt="more night sky above",
        )
        modify = LumaVideoModifyOperator(
            task_id="video_edit",
            # The video's URL (its return_value is the stored path).
            media_url="{{ ti.xcom_pull(task_ids='video', key='generation')['output'][0]['url'] }}",
            mode="flex_1",
            model="ray-3.2",
            prompt="in watercolour",
        )
        layers = LumaImageLayersOperator(
            task_id="layering",
            source="{{ ti.xcom_pull(task_ids='image', key='generation_id') }}",
            prompt="the lantern apart from the night sky",
            resolution="1k",
        )
        sensor = LumaGenerationSensor(
            task_id="sensor",
            generation_id="{{ ti.xcom_pull(task_ids='image', key='generation_id') }}",
            luma_conn_id="luma_agents_default",
            deferrable=deferrable,
            poke_interval=0.2,
            timeout=60,
        )
        batch = LumaImageBatchOperator(
            task_id="batch",
            requests=["a lantern at dawn", {"prompt": "a lantern at dusk", "style": "manga"}],
            model="uni-1",
        )

        @task.luma_image(model="uni-1-max")
        def taskflow() -> dict:
            return {"prompt": "a lantern, drawn as a manga panel", "style": "manga", "aspect_ratio": "2:3"}

        taskflow()
        image >> [edit, layers, sensor]
        video >> [reframe, modify]

with DAG(dag_id="luma_test_agents_wrong_connection", schedule=None, start_date=datetime(2025, 1, 1)):
    # uni-1 on the Dream Machine connection: refused before anything is sent.
    LumaImageGenerateOperator(
        task_id="image",
        prompt="a lantern",
        model="uni-1",
        **{**AGENTS, "luma_conn_id": "luma_default", "deferrable": False},
    )

with DAG(dag_id="luma_test_agents_one_image", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageGenerateOperator(
        task_id="image",
        prompt="a lantern at dusk",
        model="uni-1",
        **{**AGENTS, "deferrable": False, "retries": 1, "retry_delay": 0},
    )

#: Where tests/test_agents_dag_runs.py writes the images the upload DAG reads.
UPLOAD_FOLDER = Path(tempfile.gettempdir()) / "luma_test_agents_upload"

for deferrable in (False, True):
    with DAG(
        dag_id=f"luma_test_agents_upload_{'deferred' if deferrable else 'worker'}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
    ):
        # Files in object storage: uploaded through /files when the create is sent.
        LumaImageGenerateOperator(
            task_id="image_edit",
            prompt="the same lantern, in daylight",
            model="uni-1",
            source=ObjectStoragePath(f"file://{UPLOAD_FOLDER}/lantern.png"),
            image_ref=[ObjectStoragePath(f"file://{UPLOAD_FOLDER}/style.jpg"), "https://example.com/sky.png"],
            **{**AGENTS, "deferrable": deferrable, "retries": 1, "retry_delay": 0},
        )

for deferrable in (False, True):
    with DAG(
        dag_id=f"luma_test_agents_rate_limited_{'deferred' if deferrable else 'worker'}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
    ):
        # No retries: a generation Luma fails for its rate limit is made again by the same try.
        LumaImageGenerateOperator(
            task_id="image",
            prompt="a lantern in the rain",
            model="uni-1",
            **{**AGENTS, "deferrable": deferrable},
        )
        LumaImageBatchOperator(
            task_id="batch",
            requests=["a lantern in the snow"],
            model="uni-1",
            **{**AGENTS, "deferrable": deferrable},
        )
