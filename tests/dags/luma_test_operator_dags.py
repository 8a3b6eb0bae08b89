"""Every operator of the provider in one DAG per waiting mode, and a DAG scheduled on their Asset."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_luma.operators.luma import (
    LumaDeleteGenerationOperator,
    LumaImageBatchOperator,
    LumaImageGenerateOperator,
    LumaImageReframeOperator,
    LumaVideoAddAudioOperator,
    LumaVideoGenerateOperator,
    LumaVideoModifyOperator,
    LumaVideoReframeOperator,
    LumaVideoUpscaleOperator,
)

TEST_IMAGES = Asset("luma://tests/images")
FAST = {"poll_interval": 0.2, "timeout": 30, "retries": 0}


def xcom(task_id: str, key: str = "generation_id") -> str:
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}', key='{key}') }}}}"


for mode, deferrable in (("deferrable", True), ("worker", False)):
    opts = {**FAST, "deferrable": deferrable}
    with DAG(
        dag_id=f"luma_test_operators_{mode}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"output_path": "file:///tmp/luma-test-output/"},
    ):
        image = LumaImageGenerateOperator(
            task_id="image",
            prompt="a lighthouse at dawn",
            format="png",
            output_path="{{ params.output_path }}",
            outlets=[TEST_IMAGES],
            **opts,
        )
        reframe_image = LumaImageReframeOperator(
            task_id="reframe_image",
            media_url="{{ ti.xcom_pull(task_ids='image', key='generation')['assets']['image'] }}",
            aspect_ratio="9:16",
            prompt="more sky above the lighthouse",
            **opts,
        )
        video = LumaVideoGenerateOperator(
            task_id="video",
            prompt="waves under the lighthouse",
            resolution="720p",
            **opts,
        )
        extend = LumaVideoGenerateOperator(
            task_id="extend",
            prompt="the storm arrives",
            keyframes={"frame0": xcom("video")},
            **opts,
        )
        modify = LumaVideoModifyOperator(
            task_id="modify",
            media_url=xcom("video", "return_value"),
            mode="flex_1",
            **opts,
        )
        reframe_video = LumaVideoReframeOperator(
            task_id="reframe_video",
            media_url=xcom("video", "return_value"),
            aspect_ratio="1:1",
            **opts,
        )
        upscale = LumaVideoUpscaleOperator(
            task_id="upscale", generation_id=xcom("video"), resolution="1080p", **opts
        )
        audio = LumaVideoAddAudioOperator(
            task_id="audio",
            generation_id=xcom("video"),
            prompt="waves and gulls",
            **opts,
        )
        delete = LumaDeleteGenerationOperator(task_id="delete", generation_id=xcom("reframe_image"))
        image >> reframe_image >> delete
        video >> [extend, modify, reframe_video, upscale, audio]

with DAG(dag_id="luma_test_asset_consumer", schedule=[TEST_IMAGES], start_date=datetime(2025, 1, 1)):

    @task
    def consume() -> None:
        print("a new test image")

    consume()

with DAG(dag_id="luma_test_min_credits", schedule=None, start_date=datetime(2025, 1, 1)):
    # No account holds a billion dollars: the balance check refuses before anything is created.
    LumaImageGenerateOperator(task_id="costly", prompt="a lighthouse", min_credits=10**11, **FAST)

# max_cost: photon-1 is priced at $0.0073 an image (airflow_provider_luma.pricing).
with DAG(dag_id="luma_test_max_cost_over", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageGenerateOperator(task_id="image", prompt="a lighthouse", max_cost=0.005, **FAST)

with DAG(dag_id="luma_test_max_cost_within", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageGenerateOperator(task_id="image", prompt="a lighthouse", max_cost=0.01, **FAST)

with DAG(dag_id="luma_test_max_cost_negotiated", schedule=None, start_date=datetime(2025, 1, 1)):
    # The test gives luma_negotiated photon-1 at $0.004: under the cap, though Luma's list price is not.
    LumaImageGenerateOperator(
        task_id="image", prompt="a lighthouse", luma_conn_id="luma_negotiated", max_cost=0.005, **FAST
    )

with DAG(dag_id="luma_test_max_cost_unknown", schedule=None, start_date=datetime(2025, 1, 1)):
    # Luma publishes no price for ray-flash-2: under a cap it is never taken for free.
    LumaVideoGenerateOperator(
        task_id="video", prompt="a lighthouse", model="ray-flash-2", max_cost=100, **FAST
    )

with DAG(dag_id="luma_test_max_cost_batch", schedule=None, start_date=datetime(2025, 1, 1)):
    LumaImageBatchOperator(
        task_id="images",
        requests=["a cheap lighthouse", {"prompt": "a dear lighthouse", "model": "photon-1"}],
        model="photon-flash-1",
        max_cost=0.005,
        **FAST,
    )
