"""Every operator through real ``dag.test()`` runs, deferrable and in the worker; storage and Assets."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS
from PIL import Image

from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.operators.luma import (
    LumaImageGenerateOperator,
    LumaImageLayersOperator,
    LumaImageReframeOperator,
    LumaVideoAddAudioOperator,
    LumaVideoGenerateOperator,
    LumaVideoModifyOperator,
    LumaVideoReframeOperator,
    LumaVideoUpscaleOperator,
)
from tests.conftest import plain_text, sync_dags_to_db

VIDEO_TASKS = ("video", "extend", "modify", "reframe_video", "upscale", "audio")


@pytest.mark.parametrize("mode", ["deferrable", "worker"])
def test_every_operator_in_one_dag(run_dag, dagbag, emulator, mode, tmp_path):
    if not AIRFLOW_V_3_1_PLUS:
        # Airflow 3.0's dag.test() fails a task whose Asset outlet no DAG processor registered.
        sync_dags_to_db(dagbag)
    result = run_dag(f"luma_test_operators_{mode}", {"output_path": f"file://{tmp_path}/images/"})
    assert result.state == "success"

    # The image went to storage: return_value is the stored path, the bytes are the asset's.
    generation = result.xcom("image", "generation")
    stored = Path(result.xcom("image").removeprefix("file://"))
    assert stored == tmp_path / "images" / f"{generation['id']}.png"
    assert stored.read_bytes() == requests.get(generation["assets"]["image"], timeout=10).content
    with Image.open(stored) as picture:
        picture.verify()

    video_id = result.xcom("video", "generation_id")
    for task_id in VIDEO_TASKS:
        assert result.xcom(task_id).startswith(emulator.url), task_id
        assert result.xcom(task_id, "generation")["state"] == "completed"
    extend_request = result.xcom("extend", "generation")["request"]
    assert extend_request["keyframes"]["frame0"] == {"type": "generation", "id": video_id}
    assert result.xcom("modify", "generation")["request"]["mode"] == "flex_1"
    assert result.xcom("upscale", "generation")["request"]["resolution"] == "1080p"

    # The reframed image was deleted by the last task.
    reframed_id = result.xcom("reframe_image", "generation_id")
    assert reframed_id not in {g["id"] for g in emulator.generations}
    assert emulator.stats.creates == 8


def asset_events_and_queued_consumers(uri: str) -> tuple[list[dict], list[str]]:
    """The extras of every event of the asset, and the DAGs queued to run because of it."""
    from airflow.utils.session import create_session

    try:  # Airflow 3
        from airflow.models.asset import AssetDagRunQueue as Queue
        from airflow.models.asset import AssetEvent as Event
        from airflow.models.asset import AssetModel as Model
    except ImportError:  # Airflow 2 called assets datasets
        from airflow.models.dataset import DatasetDagRunQueue as Queue
        from airflow.models.dataset import DatasetEvent as Event
        from airflow.models.dataset import DatasetModel as Model
    key = "asset_id" if hasattr(Event, "asset_id") else "dataset_id"
    with create_session() as session:
        asset_id = session.query(Model).filter_by(uri=uri).one().id
        extras = [event.extra for event in session.query(Event).filter_by(**{key: asset_id})]
        queued = [row.target_dag_id for row in session.query(Queue).filter_by(**{key: asset_id})]
    return extras, queued


def test_storing_emits_an_asset_event_that_schedules_the_consumer(run_dag, dagbag, emulator, tmp_path):
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    sync_dags_to_db(dagbag)
    with create_session() as session:
        session.query(DagModel).filter_by(dag_id="luma_test_asset_consumer").update({"is_paused": False})

    result = run_dag("luma_test_operators_worker", {"output_path": f"file://{tmp_path}/"})
    assert result.state == "success"
    generation = result.xcom("image", "generation")
    extras, queued = asset_events_and_queued_consumers("luma://tests/images")
    assert {
        "generation_id": generation["id"],
        "model": "photon-1",
        "prompt": "a lighthouse at dawn",
        "path": result.xcom("image"),
        "cost": 0.0073,  # photon-1's published price
    } in extras
    assert result.xcom("image", "cost") == 0.0073
    assert "luma_test_asset_consumer" in queued  # the scheduler would now run the consumer


def test_min_credits_fails_before_creating(run_dag, emulator, read_logs):
    from airflow_provider_luma.hooks.luma import LumaHook

    credits = LumaHook().get_credits()["credit_balance"]
    result = run_dag("luma_test_min_credits")
    assert result.state == "failed"
    assert f"balance is {credits} US cents, below min_credits=100000000000" in plain_text(read_logs())
    assert emulator.stats.creates == 0


@pytest.mark.parametrize(
    ("operator", "param"),
    [
        (LumaImageReframeOperator(task_id="a", media_url="not a url", aspect_ratio="1:1"), "media_url"),
        (
            LumaImageReframeOperator(task_id="b", media_url="https://x/a.png", aspect_ratio="5:4"),
            "aspect_ratio",
        ),
        (
            LumaImageReframeOperator(
                task_id="c", media_url="https://x/a.png", aspect_ratio="1:1", geometry={"x_start": -1}
            ),
            "geometry.x_start",
        ),
        (LumaVideoModifyOperator(task_id="d", media_url="https://x/v.mp4", mode="wild_9"), "mode"),
        (
            LumaVideoModifyOperator(
                task_id="e", media_url="https://x/v.mp4", mode="flex_1", model="photon-1"
            ),
            "model",
        ),
        (
            LumaVideoReframeOperator(task_id="f", media_url="https://x/v.mp4", aspect_ratio="1:1", model=""),
            "model",
        ),
        (LumaVideoUpscaleOperator(task_id="g", generation_id="nope", resolution="1080p"), "generation_id"),
        (
            LumaVideoUpscaleOperator(
                task_id="h", generation_id="6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c", resolution=1080
            ),
            "resolution",
        ),
        (LumaVideoAddAudioOperator(task_id="i", generation_id="nope", prompt="rain"), "generation_id"),
        (
            LumaVideoAddAudioOperator(
                task_id="j", generation_id="6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c", prompt=""
            ),
            "prompt",
        ),
    ],
)
def test_bad_input_of_every_operator_sends_nothing(emulator, operator, param):
    with pytest.raises(LumaValidationError, match=param):
        operator.execute({})
    assert emulator.stats.total_requests == 0


def test_video_example_dag(run_dag, emulator, read_logs):
    result = run_dag("example_luma_video")
    assert result.state == "success", read_logs()[-3000:]
    stored = Path(result.xcom("upscale").removeprefix("file://"))
    assert stored.stat().st_size > 0
    assert result.xcom("extend", "generation")["request"]["keyframes"]["frame0"]["id"] == result.xcom(
        "first_shot", "generation_id"
    )


def test_edit_example_dag(run_dag, emulator, read_logs):
    result = run_dag("example_luma_edit")
    assert result.state == "success", read_logs()[-3000:]
    video_id = result.xcom("waves", "generation_id")
    audio_request = result.xcom("with_sound", "generation")["request"]
    assert (audio_request["generation_type"], audio_request["negative_prompt"]) == ("add_audio", "music")
    assert result.xcom("restyled", "generation")["request"]["media"]["url"] == result.xcom("waves")
    assert result.xcom("square", "generation")["request"]["aspect_ratio"] == "1:1"
    assert result.xcom("tall_harbour", "generation")["request"]["aspect_ratio"] == "9:16"
    original = result.xcom("harbour", "generation_id")
    live = {g["id"] for g in emulator.generations}
    assert original not in live  # deleted once the portrait existed
    assert {video_id, result.xcom("tall_harbour", "generation_id")} <= live
    assert emulator.stats.creates == 6


GENERATE_OPERATORS = [
    LumaImageGenerateOperator,
    LumaImageLayersOperator,
    LumaVideoGenerateOperator,
    LumaImageReframeOperator,
    LumaVideoReframeOperator,
    LumaVideoModifyOperator,
    LumaVideoUpscaleOperator,
    LumaVideoAddAudioOperator,
]


@pytest.mark.parametrize("operator", GENERATE_OPERATORS, ids=lambda operator: operator.__name__)
def test_each_operator_takes_exactly_the_parameters_its_kind_declares(operator):
    """The signature users read and the declaration the request is built from name the same things."""
    import inspect

    from airflow_provider_luma.kinds import operator_params, operator_template_fields

    names = operator_params(operator.kind)  # the Dream Machine API's, and the Agents API's
    arguments = [
        name
        for name, parameter in inspect.signature(operator.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert sorted(arguments) == sorted(names)
    assert set(operator.template_fields) == {*operator_template_fields(operator.kind), "output_path"}
    documented = operator.__doc__ or ""
    assert all(f":param {name}:" in documented for name in names)


@pytest.mark.parametrize(
    "operator",
    [operator for operator in GENERATE_OPERATORS if operator is not LumaImageLayersOperator],  # Agents only
    ids=lambda operator: operator.__name__,
)
def test_each_argument_reaches_the_request_it_builds(operator):
    """A value given to the operator is the value its kind checks (nothing dropped on the way)."""
    from airflow_provider_luma.kinds import KINDS

    given = {"media_url": "https://x/a.png", "aspect_ratio": "1:1", "mode": "flex_1", "resolution": "720p"}
    given |= {"generation_id": "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c", "prompt": "a lighthouse at dawn"}
    given |= {"callback_url": "https://hooks.example/luma"}
    arguments = {name: given[name] for name in KINDS[operator.kind].names if name in given}
    request = operator(task_id="t", **arguments).build_request()
    assert request.body["callback_url"] == "https://hooks.example/luma"
    if "prompt" in arguments:
        assert request.body["prompt"] == "a lighthouse at dawn"
    if "generation_id" in arguments:
        assert request.path.startswith("/generations/6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c/")
    if "media_url" in arguments:
        assert request.body["media"] == {"url": "https://x/a.png"}
