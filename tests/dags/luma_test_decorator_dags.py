"""DAGs of ``@task.luma_image`` / ``@task.luma_video`` that the tests run with ``dag.test()``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

FAST = {"poll_interval": 0.2, "timeout": 20}
OUTPUT_URL = f"file://{os.environ.get('LUMA_EXAMPLE_OUTPUT_DIR', '/tmp/luma-images')}/decorated/"


def count_call(params: dict) -> None:
    """Append a line to ``params.calls_file``: how often the decorated function ran."""
    with Path(params["calls_file"]).open("a") as calls:
        calls.write("called\n")


with DAG(
    dag_id="luma_test_decorated_options",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    params={"subject": "a lighthouse", "calls_file": "/dev/null"},
):
    # Everything given to the decorator reaches the operator; the function gives the prompt.
    @task.luma_image(
        aspect_ratio="9:16",
        output_path=OUTPUT_URL,
        deferrable=True,
        retries=3,
        retry_delay=timedelta(0),
        **FAST,
    )
    def portrait(params=None) -> str:
        count_call(params)
        return f"A portrait of {params['subject']} at dawn"

    portrait()

with DAG(dag_id="luma_test_decorated_dict", schedule=None, start_date=datetime(2025, 1, 1)):
    # The dict's parameters win over the decorator's; the worker polls (deferrable=False).
    @task.luma_video(model="ray-2", resolution="540p", deferrable=False, **FAST)
    def clip() -> dict:
        return {"prompt": "Waves rolling onto a beach at night", "model": "ray-flash-2", "duration": "5s"}

    clip()

with DAG(
    dag_id="luma_test_decorated_bad_return",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    params={"returned": 42},
):

    @task.luma_image(deferrable=True, retries=2, retry_delay=timedelta(0), **FAST)
    def returns_what_it_is_given(params=None):
        return params["returned"]

    returns_what_it_is_given()

with DAG(dag_id="luma_test_decorated_mapped", schedule=None, start_date=datetime(2025, 1, 1)):

    @task
    def subjects() -> list[str]:
        return ["a red kite", "a blue kite", "a green kite", "a yellow kite"]

    @task.luma_image(deferrable=True, **FAST)
    def kite(subject: str) -> str:
        return f"{subject} over a windy beach"

    @task
    def urls(found: list[str]) -> list[str]:
        return sorted(found)

    urls(kite.expand(subject=subjects()))

with DAG(dag_id="luma_test_decorated_max_cost", schedule=None, start_date=datetime(2025, 1, 1)):
    # ray-2 at 1080p for 9 s is $2.862: over the decorator's max_cost, whatever the function returns.
    @task.luma_video(model="ray-2", max_cost=1, deferrable=False, retries=0, **FAST)
    def long_clip() -> dict:
        return {"prompt": "a long harbour clip", "resolution": "1080p", "duration": "9s"}

    long_clip()
