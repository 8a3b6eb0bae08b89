"""
``@task.luma_image`` and ``@task.luma_video`` in a running Airflow: the TaskFlow example DAG,
found by the dag-processor through the provider's ``task-decorators``, run by the scheduler.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from luma_e2e.scenarios import assert_run_succeeds
from luma_e2e.settings import RUN_TIMEOUT
from PIL import Image

if TYPE_CHECKING:
    from luma_e2e.stack import AirflowStack

TASKFLOW_FILE = "example_luma_taskflow.py"
TASKFLOW_DAG = "example_luma_taskflow"
PRODUCTS = ["a ceramic teapot", "a leather backpack", "a brass desk lamp"]


def test_the_taskflow_example_generates_one_stored_image_per_upstream_item(
    stack: AirflowStack, example_runs: dict[str, dict[str, str]]
) -> None:
    api, run_id = stack.api, example_runs[TASKFLOW_FILE][TASKFLOW_DAG]
    assert_run_succeeds(api, TASKFLOW_DAG, run_id, timeout=RUN_TIMEOUT)
    stored = api.xcom(TASKFLOW_DAG, run_id, "collect")
    assert len(stored) == len(PRODUCTS)
    for map_index, product in enumerate(PRODUCTS):  # .expand() over the upstream task's list
        prompt = f"Studio product photo of {product}, soft light, white background"
        ti = api.task_instance(TASKFLOW_DAG, run_id, "product_shot", map_index)
        assert ti["operator_name"] == "@task.luma_image"
        assert ti["rendered_fields"]["prompt"] == prompt  # the function's return, in the UI's view
        parameters = api.xcom(TASKFLOW_DAG, run_id, "product_shot", "parameters", map_index)
        assert parameters.pop("mac")  # sealed: the task reads it back only if it wrote it
        assert parameters == {"prompt": prompt}
        generation = api.xcom(TASKFLOW_DAG, run_id, "product_shot", "generation", map_index)
        assert generation["request"] == {
            "generation_type": "image",
            "model": "photon-flash-1",
            "prompt": prompt,
            "aspect_ratio": "1:1",
            "format": "png",
        }
        # deferrable=True, passed through the decorator: the task waited on the triggerer.
        log = api.task_log(TASKFLOW_DAG, run_id, "product_shot", map_index=map_index)
        assert "Pausing task as DEFERRED" in log
        path = api.xcom(TASKFLOW_DAG, run_id, "product_shot", map_index=map_index)
        assert path in stored
        with Image.open(Path(path.removeprefix("file://"))) as image:
            assert image.format == "PNG"
            assert image.width == image.height


def test_the_taskflow_video_starts_from_the_image_task_before_it(
    stack: AirflowStack, example_runs: dict[str, dict[str, str]]
) -> None:
    api, run_id = stack.api, example_runs[TASKFLOW_FILE][TASKFLOW_DAG]
    assert_run_succeeds(api, TASKFLOW_DAG, run_id, timeout=RUN_TIMEOUT)
    assert api.task_instance(TASKFLOW_DAG, run_id, "teaser")["operator_name"] == "@task.luma_video"
    window = api.xcom(TASKFLOW_DAG, run_id, "shop_window", "generation")
    assert window["request"]["aspect_ratio"] == "16:9"  # from the dict the function returned
    teaser = api.xcom(TASKFLOW_DAG, run_id, "teaser", "generation")
    assert teaser["state"] == "completed"
    assert teaser["model"] == "ray-flash-2"
    assert teaser["request"]["keyframes"]["frame0"] == {
        "type": "image",
        "url": api.xcom(TASKFLOW_DAG, run_id, "shop_window"),
    }
