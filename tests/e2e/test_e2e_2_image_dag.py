"""The example DAGs, run by the scheduler and LocalExecutor, waiting on the triggerer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from luma_e2e.evidence import download_image
from luma_e2e.scenarios import assert_run_succeeds, processes_while_running
from luma_e2e.settings import IMAGE_DAG, RUN_TIMEOUT
from PIL import Image

if TYPE_CHECKING:
    from luma_e2e.scenarios import ImageRun
    from luma_e2e.stack import AirflowStack

EXAMPLE_DAGS_FOLDER = Path(__file__).resolve().parents[2] / "example_dags"
#: The review example waits for a person: test_e2e_5_review_and_gallery.py answers (or not) its runs.
EXAMPLE_FILES = sorted(
    path.name for path in EXAMPLE_DAGS_FOLDER.glob("*.py") if path.name != "example_luma_review.py"
)


@pytest.mark.parametrize("file_name", EXAMPLE_FILES)
def test_example_dag_runs_succeed_through_the_rest_api(
    stack: AirflowStack, example_runs: dict[str, dict[str, str]], file_name: str
) -> None:
    runs = example_runs.get(file_name)
    assert runs, f"{file_name}: no DAG known to the api-server; import errors: {stack.api.import_errors()}"
    for dag_id, run_id in runs.items():
        assert_run_succeeds(stack.api, dag_id, run_id, timeout=RUN_TIMEOUT)
        assert {ti["state"] for ti in stack.api.task_instances(dag_id, run_id)} == {"success"}


def test_image_task_is_deferred_while_luma_dreams_and_no_worker_runs_it(image_run: ImageRun) -> None:
    deferral = image_run.deferral
    samples = deferral.samples
    assert deferral.handoff_seconds < 1, deferral  # no worker had it to let go of
    assert len(samples) >= 10, samples
    assert {s.ti_state for s in samples} == {"deferred"}, samples
    assert {s.generation_state for s in samples} == {"dreaming"}, samples
    assert all(s.ti_processes == [] for s in samples), [s.ti_processes for s in samples if s.ti_processes]
    assert all(s.busy_workers == [] for s in samples), [s.busy_workers for s in samples if s.busy_workers]
    assert all(s.idle_workers >= 1 for s in samples)  # the scan does see the LocalExecutor's workers
    assert deferral.closing_states == ("deferred", "dreaming")
    # Airflow 3.3 started the task on the triggerer: no worker ever ran it.
    assert deferral.ti["trigger"]["classpath"] == "airflow_provider_luma.triggers.luma.LumaGenerateTrigger"


def test_a_task_polling_in_its_worker_is_seen_in_the_process_table(
    stack: AirflowStack, facts: dict[str, Any]
) -> None:
    """The control for the test above: the same scan finds a task that holds its worker."""
    dag_id = "e2e_luma_worker_mode"
    stack.api.unpause(dag_id)
    run_id = stack.api.trigger(dag_id)
    found = processes_while_running(stack, dag_id, run_id, "generate")
    titles = sorted(process.title for process in found)
    facts["worker-mode task: processes carrying its id while it polls"] = titles
    ti_id = stack.api.task_instance(dag_id, run_id, "generate")["id"]
    assert f"airflow worker -- LocalExecutor: {ti_id}" in titles  # the supervising worker
    assert f"airflow worker -- {ti_id}" in titles  # the task process it forked
    assert_run_succeeds(stack.api, dag_id, run_id, timeout=RUN_TIMEOUT)


def test_xcom_holds_url_id_and_generation_and_the_url_is_an_image(
    stack: AirflowStack, image_run: ImageRun
) -> None:
    api, run_id = stack.api, image_run.run_id
    assert_run_succeeds(api, IMAGE_DAG, run_id, timeout=RUN_TIMEOUT)
    url = api.xcom(IMAGE_DAG, run_id, "text_to_image")
    generation_id = api.xcom(IMAGE_DAG, run_id, "text_to_image", key="generation_id")
    generation = api.xcom(IMAGE_DAG, run_id, "text_to_image", key="generation")
    assert generation_id == image_run.deferral.generation_id
    assert generation["id"] == generation_id
    assert generation["state"] == "completed"
    assert generation["assets"]["image"] == url
    image = download_image(url)
    assert image.format == "PNG"  # format="png"
    assert image.width > image.height  # aspect_ratio="16:9"

    # The sensor waited on the same generation; the variant is a second one, made from the first.
    assert api.xcom(IMAGE_DAG, run_id, "wait_for_first") == url
    assert api.xcom(IMAGE_DAG, run_id, "wait_for_first", key="generation_id") == generation_id
    variant = api.xcom(IMAGE_DAG, run_id, "styled_variant", key="generation")
    assert variant["id"] != generation_id
    assert variant["request"]["style_ref"][0]["url"] == url
    download_image(api.xcom(IMAGE_DAG, run_id, "styled_variant"))
    saved = Path(api.xcom(IMAGE_DAG, run_id, "download"))
    assert Image.open(saved).size == image.size
