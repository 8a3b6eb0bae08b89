"""``@task.luma_image`` and ``@task.luma_video`` through real Airflow ``dag.test()`` against the emulator."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS
from PIL import Image

from airflow_provider_luma import get_provider_info
from airflow_provider_luma.decorators.luma import (
    XCOM_PARAMETERS,
    generation_parameters,
)
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator, LumaVideoGenerateOperator
from tests.conftest import plain_text
from tests.dags.luma_test_decorator_dags import OUTPUT_URL as OUTPUT_URL_PREFIX
from tests.test_dag_runs import INLINE_TRIGGER_LOG_LINE


def rendered_fields(result, task_id: str) -> dict:
    """The task instance's rendered template fields, as the UI's "Rendered Template" view reads them."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=result.dag_run.dag_id, run_id=result.dag_run.run_id, task_id=task_id)
            .one()
        )
        return dict(row.rendered_fields)


def test_the_provider_registers_every_decorator():
    from airflow.providers.common.compat.sdk import task

    registered = {entry["name"]: entry["class-name"] for entry in get_provider_info()["task-decorators"]}
    assert registered == {
        "luma_image": "airflow_provider_luma.decorators.luma.luma_image_task",
        "luma_video": "airflow_provider_luma.decorators.luma.luma_video_task",
        "luma_image_batch": "airflow_provider_luma.decorators.batch.luma_image_batch_task",
        "luma_video_batch": "airflow_provider_luma.decorators.batch.luma_video_batch_task",
    }
    # What a DAG file gets from Airflow's ``task`` (found through the provider manager).
    assert task.luma_image.__module__ == "airflow_provider_luma.decorators.luma"
    assert task.luma_video.__name__ == "luma_video_task"
    assert task.luma_image_batch.__module__ == "airflow_provider_luma.decorators.batch"
    assert task.luma_video_batch.__name__ == "luma_video_batch_task"


@pytest.mark.parametrize("operator", [LumaImageGenerateOperator, LumaVideoGenerateOperator])
def test_every_generation_parameter_is_an_attribute_of_the_operator(operator):
    """A parameter the function returns is set on the operator before it validates."""
    instance = operator(task_id="t", prompt="a lighthouse")
    for parameter in generation_parameters(operator):
        assert hasattr(instance, parameter), parameter
    assert "prompt" in generation_parameters(operator)
    assert set(generation_parameters(operator)) <= set(inspect.signature(operator.__init__).parameters)


def test_options_pass_through_and_the_function_gives_the_prompt(run_dag, emulator, read_logs, tmp_path):
    calls = tmp_path / "calls"
    result = run_dag("luma_test_decorated_options", {"subject": "a red fox", "calls_file": str(calls)})
    assert result.state == "success"
    generation = result.xcom("portrait", "generation")
    assert generation["request"]["prompt"] == "A portrait of a red fox at dawn"
    assert generation["request"]["aspect_ratio"] == "9:16"  # given to the decorator
    stored = result.xcom("portrait")  # output_path: the stored copy
    assert stored.startswith("file://")
    assert stored.endswith(f"{generation['id']}.jpg")
    with Image.open(stored.removeprefix("file://")) as image:
        assert image.height > image.width
    logs = read_logs()
    assert INLINE_TRIGGER_LOG_LINE in logs  # deferrable=True: it waited on the triggerer
    if AIRFLOW_V_3_3_PLUS:  # where Airflow could start a deferrable task on the triggerer
        assert "Starting in a worker, not on the triggerer: its TaskFlow function" in logs
    parameters = result.xcom("portrait", XCOM_PARAMETERS)
    assert parameters.pop("mac")  # sealed: the task reads it back only if it wrote it
    assert parameters == {"prompt": "A portrait of a red fox at dawn"}
    assert calls.read_text().count("called") == 1
    # The "Rendered Template" view: what the function returned, also after the task resumed.
    assert rendered_fields(result, "portrait")["prompt"] == "A portrait of a red fox at dawn"


def test_a_rate_limited_create_does_not_call_the_function_again(run_dag, emulator, tmp_path):
    """After waiting out a 429 on the triggerer the task starts over: with the same parameters."""
    emulator.configure(
        faults=[{"route": "POST /generations/image", "kind": "429", "times": 1, "retry_after": 0.2}]
    )
    calls = tmp_path / "calls"
    result = run_dag("luma_test_decorated_options", {"subject": "a grey heron", "calls_file": str(calls)})
    assert result.state == "success"
    assert emulator.stats.answers["POST 429"] == 1
    assert emulator.stats.creates == 1
    assert calls.read_text().count("called") == 1


def test_a_returned_dict_wins_over_the_decorators_parameters(run_dag, emulator):
    result = run_dag("luma_test_decorated_dict")
    assert result.state == "success"
    request = result.xcom("clip", "generation")["request"]
    assert (request["model"], request["duration"], request["resolution"]) == ("ray-flash-2", "5s", "540p")


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (42, "must be the prompt (a string) or a dict of prompt, model"),
        ({"prompt": "a lighthouse", "deferrable": False}, "unknown keys ['deferrable']"),
        ({"model": "photon-1"}, "needs a 'prompt'"),
        ({"prompt": "ab"}, "Invalid 'prompt'"),
    ],
)
def test_a_bad_return_value_fails_before_any_request(run_dag, emulator, read_logs, returned, message):
    result = run_dag("luma_test_decorated_bad_return", {"returned": returned})
    assert result.state == "failed"
    assert result.task_state("returns_what_it_is_given") == "failed"  # retries=2, none used
    assert message in plain_text(read_logs())
    assert emulator.stats.total_requests == 0


def test_expand_over_an_upstream_list(run_dag, emulator):
    result = run_dag("luma_test_decorated_mapped")
    assert result.state == "success"
    prompts = {result.xcom("kite", "generation", map_index=i)["request"]["prompt"] for i in range(4)}
    assert prompts == {f"a {color} kite over a windy beach" for color in ("red", "blue", "green", "yellow")}
    assert result.xcom("urls") == sorted(result.xcom("kite", map_index=i) for i in range(4))
    assert emulator.stats.creates == 4


def test_taskflow_example_dag(run_dag, emulator):
    result = run_dag("example_luma_taskflow")
    assert result.state == "success"
    stored = result.xcom("collect")
    assert len(stored) == 3
    for path in stored:
        with Image.open(Path(path.removeprefix("file://"))) as image:
            assert image.format == "PNG"
            assert image.width == image.height
    teaser = result.xcom("teaser", "generation")
    assert teaser["request"]["keyframes"]["frame0"] == {"type": "image", "url": result.xcom("shop_window")}
    assert teaser["model"] == "ray-flash-2"
    assert emulator.stats.creates == 5


def test_a_parameters_xcom_planted_while_deferred_is_never_read_back(
    run_dag, emulator, monkeypatch, tmp_path, read_logs
):
    """Any task or REST API user may write the ``parameters`` XCom: the resumed task ignores it."""
    from airflow.providers.common.compat.sdk import get_current_context

    from airflow_provider_luma.operators.base import LumaGenerationOperatorBase

    planted_dir = tmp_path / "planted"
    planted = {
        "prompt": "A portrait of someone else entirely",
        "output_path": f"file://{planted_dir}/",
        "luma_conn_id": "luma_planted",
        "max_asset_bytes": 10**12,
    }
    defer = LumaGenerationOperatorBase.defer

    def plant_then_defer(self, **kwargs):
        # Written over the task's own while it is deferred, as another writer may.
        get_current_context()["ti"].xcom_push(key=XCOM_PARAMETERS, value=planted)
        return defer(self, **kwargs)

    monkeypatch.setattr(LumaGenerationOperatorBase, "defer", plant_then_defer)
    result = run_dag("luma_test_decorated_options", {"subject": "a barn owl", "calls_file": "/dev/null"})
    assert result.state == "success", read_logs()[-3000:]
    assert result.xcom("portrait", XCOM_PARAMETERS) == planted  # it was there when the task resumed
    stored = result.xcom("portrait")
    assert stored.startswith(OUTPUT_URL_PREFIX)  # the decorator's output_path, not the planted one
    assert not planted_dir.exists()
    assert result.xcom("portrait", "generation")["request"]["prompt"] == "A portrait of a barn owl at dawn"
    assert "Ignoring the stored Luma parameters of this task instance" in read_logs()
