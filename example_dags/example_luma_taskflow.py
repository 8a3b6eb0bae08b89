"""
Example: the TaskFlow decorators ``@task.luma_image`` and ``@task.luma_video``.

A task lists the products to shoot. ``@task.luma_image`` turns each into a prompt (the function
returns a string), mapped over that list with ``.expand()``, and stores every image; a fan-in
collects the stored paths. A second image task returns a dict of parameters (prompt and aspect
ratio) for a shop window, and ``@task.luma_video`` starts a short teaser from that picture: its
function gets the image URL from XCom like any TaskFlow argument.

The decorators' own arguments go to the operators as they are (``deferrable``, ``output_path``,
``retries``...); what the function returns is the prompt, or a dict of generation parameters.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "5"))
OUTPUT_URL = os.environ.get("LUMA_EXAMPLE_OUTPUT_URL", "file:///tmp/luma-images/taskflow/")

with DAG(
    dag_id="example_luma_taskflow",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "luma"],
) as dag:

    @task
    def products() -> list[str]:
        """What to shoot: in a real DAG, a query to the product catalogue."""
        return ["a ceramic teapot", "a leather backpack", "a brass desk lamp"]

    # [START howto_decorator_luma_image]
    @task.luma_image(
        model="photon-flash-1",
        aspect_ratio="1:1",
        format="png",
        output_path=OUTPUT_URL,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        retries=2,
    )
    def product_shot(product: str) -> str:
        return f"Studio product photo of {product}, soft light, white background"

    items = products()
    shots = product_shot.expand(product=items)
    # [END howto_decorator_luma_image]

    @task
    def collect(paths: list[str]) -> list[str]:
        """Fan-in: every stored image's path."""
        stored = sorted(paths)
        print(f"{len(stored)} product shots stored:", *stored, sep="\n  ")
        return stored

    collect(shots)

    # [START howto_decorator_luma_video]
    @task.luma_image(deferrable=True, poll_interval=POLL_INTERVAL)
    def shop_window(items: list[str]) -> dict:
        return {"prompt": f"A shop window at dusk showing {', '.join(items)}", "aspect_ratio": "16:9"}

    @task.luma_video(model="ray-flash-2", deferrable=True, poll_interval=POLL_INTERVAL)
    def teaser(first_frame_url: str) -> dict:
        return {
            "prompt": "The camera slowly pushes in on the shop window as the lights come on",
            "keyframes": {"frame0": first_frame_url},
            "duration": "5s",
        }

    teaser(shop_window(items))
    # [END howto_decorator_luma_video]
