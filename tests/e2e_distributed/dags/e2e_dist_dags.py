"""
DAGs of the distributed end-to-end harness (CeleryExecutor, two triggerers, S3 on moto).

- ``e2e_dist_batch``: ``LUMA_DIST_BATCH_SIZE`` images from one mapped task, in a pool sized to
  Luma's concurrency that deferred tasks keep holding, each stored in S3; the crash scenarios run
  while it does.
- ``e2e_dist_rate_provider``: ``LUMA_DIST_RATE_IMAGES`` images under the emulator's rate limits,
  no ``output_path``: the provider's way.
- ``e2e_dist_rate_start``, ``e2e_dist_rate_start_s3``, ``e2e_dist_rate_start_kill``: as many
  unmapped tasks, which Airflow 3.3 starts on the triggerer: no ``output_path`` (no task process
  at all), each stored in S3 (one task process per image, for the copy), and the first again for a
  run during which a triggerer is killed.
- ``e2e_dist_rate_batch``, ``e2e_dist_rate_batch_s3``, ``e2e_dist_rate_batch_kill``: one batch
  task of ``LUMA_DIST_BATCH_RATE_IMAGES`` images at Luma's Build tier (40 running, 80 creates a
  minute), which Airflow 3.3 starts, runs and ends on the triggerer: without ``output_path``,
  stored in S3, and the first again for a run during which a triggerer is killed.
- ``e2e_dist_task_floor``: as many PythonOperator tasks that return at once: what one task process
  costs on this cluster, Luma aside.
- ``e2e_dist_rate_sdk``: the same images the way a team does without the provider: a
  PythonOperator running the official ``lumaai`` SDK's create-and-poll loop, one worker slot held
  per image.

Every process (core and workers) gets the same environment, so every parse sees the same DAGs.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG, BaseHook
from airflow.providers.standard.operators.python import PythonOperator

from airflow_provider_luma.operators.luma import LumaImageBatchOperator, LumaImageGenerateOperator

BATCH_SIZE = int(os.environ.get("LUMA_DIST_BATCH_SIZE", "100"))
BATCH_POOL = os.environ.get("LUMA_DIST_BATCH_POOL", "luma_photon_batch")
BATCH_OUTPUT = os.environ.get("LUMA_DIST_BATCH_OUTPUT", "s3://aws_default@luma-dist/batch/")
BATCH_BUCKET = BATCH_OUTPUT.removeprefix("s3://").split("/", 1)[0].rpartition("@")[2]
RATE_IMAGES = int(os.environ.get("LUMA_DIST_RATE_IMAGES", "40"))
RATE_POOL = os.environ.get("LUMA_DIST_RATE_POOL", "luma_photon_rate")
#: The rate table's single tasks use a connection whose key limits are the emulator's in those rows.
RATE_CONN = "luma_rate"
BATCH_RATE_IMAGES = int(os.environ.get("LUMA_DIST_BATCH_RATE_IMAGES", "200"))
POLL_INTERVAL = float(os.environ.get("LUMA_DIST_POLL_INTERVAL", "2"))
SUBJECTS = ("fox", "heron", "lighthouse", "glacier", "orchard", "windmill", "canyon", "tram", "kite", "owl")


def prompts(style: str, count: int) -> list[str]:
    """``count`` distinct prompts in one style (the style tells the emulator's generations apart)."""
    return [f"A {style} {SUBJECTS[i % len(SUBJECTS)]}, study {i}" for i in range(count)]


with DAG(
    dag_id="e2e_dist_batch",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=BATCH_SIZE,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator.partial(
        task_id="generate",
        model="photon-flash-1",
        aspect_ratio="1:1",
        format="png",
        output_path=BATCH_OUTPUT,
        pool=BATCH_POOL,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=900,
        retries=3,
        retry_delay=timedelta(seconds=3),
    ).expand(prompt=prompts("gouache", BATCH_SIZE))

with DAG(
    dag_id="e2e_dist_rate_provider",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=RATE_IMAGES,
    tags=["e2e", "luma"],
):
    LumaImageGenerateOperator.partial(
        task_id="generate",
        aspect_ratio="1:1",
        luma_conn_id=RATE_CONN,
        pool=RATE_POOL,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=900,
        retries=3,
        retry_delay=timedelta(seconds=5),
    ).expand(prompt=prompts("woodcut", RATE_IMAGES))

# Unmapped tasks with plain parameters: Airflow 3.3 starts each on the triggerer.
for start_dag_id, style, output_path in (
    ("e2e_dist_rate_start", "aquatint", None),
    ("e2e_dist_rate_start_s3", "lithograph", f"s3://aws_default@{BATCH_BUCKET}/rate-start/"),
    ("e2e_dist_rate_start_kill", "drypoint", None),
):
    with DAG(
        dag_id=start_dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        max_active_tasks=RATE_IMAGES,
        tags=["e2e", "luma"],
    ):
        for number, prompt in enumerate(prompts(style, RATE_IMAGES)):
            LumaImageGenerateOperator(
                task_id=f"generate_{number:02d}",
                prompt=prompt,
                aspect_ratio="1:1",
                luma_conn_id=RATE_CONN,
                pool=RATE_POOL,
                deferrable=True,
                output_path=output_path,
                poll_interval=POLL_INTERVAL,
                timeout=900,
                retries=3,
                retry_delay=timedelta(seconds=5),
            )

# One batch task of BATCH_RATE_IMAGES images at Luma's Build tier (the connection's default limits),
# which Airflow 3.3 starts, runs and ends on the triggerer; stored in S3 (one worker resume copies
# them all); and the first again for a run during which a triggerer is killed.
for batch_dag_id, style, output_path in (
    ("e2e_dist_rate_batch", "mezzotint", None),
    ("e2e_dist_rate_batch_s3", "linocut", f"s3://aws_default@{BATCH_BUCKET}/rate-batch/"),
    ("e2e_dist_rate_batch_kill", "serigraph", None),
):
    with DAG(
        dag_id=batch_dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["e2e", "luma"],
    ):
        LumaImageBatchOperator(
            task_id="generate",
            requests=prompts(style, BATCH_RATE_IMAGES),
            aspect_ratio="1:1",
            luma_conn_id="luma_build_tier",
            deferrable=True,
            output_path=output_path,
            poll_interval=POLL_INTERVAL,
            timeout=900,
            retries=3,
            retry_delay=timedelta(seconds=5),
        )


def return_at_once() -> None:
    """Nothing: a task process's own cost on this cluster, with no Luma in it."""


with DAG(
    dag_id="e2e_dist_task_floor",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=RATE_IMAGES,
    tags=["e2e"],
):
    PythonOperator.partial(task_id="nothing", python_callable=return_at_once).expand(
        op_args=[[] for _ in range(RATE_IMAGES)]
    )


def generate_with_sdk(prompt: str) -> str:
    """Create one image with the official SDK and poll until it is done, in this worker slot."""
    from lumaai import LumaAI

    connection = BaseHook.get_connection("luma_default")
    with LumaAI(auth_token=connection.password, base_url=connection.host) as client:
        generation = client.generations.image.create(prompt=prompt, aspect_ratio="1:1", model="photon-1")
        while generation.state not in ("completed", "failed"):
            time.sleep(POLL_INTERVAL)
            generation = client.generations.get(generation.id)
    if generation.state == "failed":
        raise RuntimeError(f"generation {generation.id} failed: {generation.failure_reason}")
    return str(generation.assets.image)


with DAG(
    dag_id="e2e_dist_rate_sdk",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=RATE_IMAGES,
    tags=["e2e", "luma"],
):
    PythonOperator.partial(
        task_id="generate",
        python_callable=generate_with_sdk,
        pool=RATE_POOL,
        retries=5,
        retry_delay=timedelta(seconds=5),
    ).expand(op_args=[[prompt] for prompt in prompts("etching", RATE_IMAGES)])
