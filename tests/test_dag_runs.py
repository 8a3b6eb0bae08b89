"""Operators, the sensor and the example DAG through real Airflow ``dag.test()`` against the emulator."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from airflow_provider_luma.hooks.luma import LumaHook
from tests.airflow_version import LINKS_IN_XCOM
from tests.conftest import API_KEY, plain_text

MODES = ["deferrable", "worker"]
#: What ``dag.test()`` logs when it runs a deferred task's trigger (Airflow 2.11 and 3).
INLINE_TRIGGER_LOG_LINE = "[DAG TEST] running trigger in line"


def open_image(url: str) -> Image.Image:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


@pytest.mark.parametrize("mode", MODES)
def test_image_url_lands_in_xcom_and_opens(run_dag, emulator, mode):
    result = run_dag(f"luma_test_image_{mode}", {"prompt": "a red fox in fresh snow", "format": "png"})
    assert result.state == "success"
    url = result.xcom("generate")
    generation = result.xcom("generate", "generation")
    assert url == generation["assets"]["image"]
    assert result.xcom("generate", "generation_id") == generation["id"]
    assert generation["state"] == "completed"
    assert generation["request"]["prompt"] == "a red fox in fresh snow"
    image = open_image(url)
    assert image.format == "PNG"
    assert image.width > image.height  # 16:9
    if LINKS_IN_XCOM:
        assert result.xcom("generate", "_link_LumaGenerationLink") == url
    assert emulator.stats.creates == 1


def test_jpeg_and_aspect_ratio_reach_luma(run_dag, emulator):
    result = run_dag("luma_test_image_deferrable", {"format": "jpg", "aspect_ratio": "9:16"})
    assert result.state == "success"
    image = open_image(result.xcom("generate"))
    assert image.format == "JPEG"
    assert image.height > image.width


@pytest.mark.parametrize("mode", MODES)
def test_failed_generation_fails_the_task_with_its_reason(run_dag, emulator, mode, read_logs):
    emulator.configure(blocked_words=["forbidden"])
    result = run_dag(f"luma_test_image_{mode}", {"prompt": "something forbidden"})
    assert result.state == "failed"
    assert result.task_state("generate") == "failed"
    generation = result.xcom("generate", "generation")
    assert generation["state"] == "failed"
    assert generation["failure_reason"] in read_logs()
    assert emulator.stats.creates == 1


@pytest.mark.parametrize("mode", MODES)
def test_timeout_fails_the_task(run_dag, emulator, mode, read_logs):
    emulator.configure(dreaming_seconds=120)
    result = run_dag(f"luma_test_timeout_{mode}")
    assert result.state == "failed"
    assert "did not finish before the deadline" in plain_text(read_logs())


@pytest.mark.parametrize("mode", MODES)
def test_a_model_the_provider_does_not_list_reaches_luma_and_its_400_is_final(
    run_dag, emulator, mode, read_logs
):
    result = run_dag(f"luma_test_open_model_{mode}", {"model": "photon-9"})
    assert result.state == "failed"
    assert result.task_state("generate") == "failed"  # retries=2, none used
    assert emulator.stats.requests["POST /generations/image"] == 1  # sent once, never again
    assert emulator.stats.creates == 0
    logs = plain_text(read_logs())
    assert "model='photon-9' is not one this provider lists" in logs  # the warning, before the call
    assert "got 'photon-9'" in logs  # Luma's own answer: the value reached it
    assert "Luma refused 'model'" in logs


def test_bad_input_fails_before_any_request(run_dag, emulator, read_logs):
    result = run_dag("luma_test_bad_input", {"aspect_ratio": "2:1"})
    assert result.state == "failed"
    assert "Invalid 'aspect_ratio'" in read_logs()
    assert emulator.stats.total_requests == 0


@pytest.mark.parametrize("mode", MODES)
def test_sensor_waits_on_an_existing_generation(run_dag, emulator, mode):
    emulator.configure(dreaming_seconds=1.0)
    generation = LumaHook().create_image(
        {"generation_type": "image", "model": "photon-1", "prompt": "a quiet harbour"}
    )
    result = run_dag(f"luma_test_sensor_{mode}", {"generation_id": generation["id"]})
    assert result.state == "success"
    assert result.xcom("wait") == result.xcom("wait", "generation")["assets"]["image"]
    assert result.xcom("wait", "generation_id") == generation["id"]
    open_image(result.xcom("wait"))


@pytest.mark.parametrize("mode", MODES)
def test_sensor_fails_on_a_failed_generation(run_dag, emulator, mode, read_logs):
    emulator.configure(blocked_words=["forbidden"])
    generation = LumaHook().create_image(
        {"generation_type": "image", "model": "photon-1", "prompt": "forbidden fruit"}
    )
    result = run_dag(f"luma_test_sensor_{mode}", {"generation_id": generation["id"]})
    assert result.state == "failed"
    assert LumaHook().get_generation(generation["id"])["failure_reason"] in read_logs()


def test_sensor_refuses_a_malformed_id_before_any_request(run_dag, emulator, read_logs):
    result = run_dag("luma_test_sensor_deferrable", {"generation_id": "not-a-uuid"})
    assert result.state == "failed"
    assert "Invalid 'generation_id'" in read_logs()
    assert emulator.stats.total_requests == 0


def test_example_dag_end_to_end(run_dag, emulator):
    result = run_dag("example_luma_image")
    assert result.state == "success"
    for task_id in ("download", "download_variant"):
        path = result.xcom(task_id)
        with Image.open(path) as image:
            image.verify()
    assert emulator.stats.creates == 2
    variant = result.xcom("styled_variant", "generation")
    assert variant["request"]["style_ref"][0]["url"] == result.xcom("text_to_image")


def test_no_secret_in_any_xcom(run_dag, emulator):
    result = run_dag("luma_test_image_deferrable")
    assert result.state == "success"
    assert API_KEY not in repr(result.all_xcom_values())


def test_generation_already_finished_is_not_deferred(run_dag, emulator, read_logs):
    emulator.configure(queued_seconds=0, dreaming_seconds=0)
    result = run_dag("luma_test_image_deferrable")
    assert result.state == "success"
    assert result.xcom("generate", "generation")["state"] == "completed"
    assert INLINE_TRIGGER_LOG_LINE not in read_logs()


def test_deferrable_task_really_defers(run_dag, emulator, read_logs):
    result = run_dag("luma_test_image_deferrable")
    assert result.state == "success"
    assert INLINE_TRIGGER_LOG_LINE in read_logs()


def test_operator_on_kill_deletes_the_generation_when_asked(emulator):
    from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

    hook = LumaHook()
    kept = hook.create_image({"generation_type": "image", "model": "photon-1", "prompt": "keep me"})
    dropped = hook.create_image({"generation_type": "image", "model": "photon-1", "prompt": "drop me"})
    for generation, cancel in ((kept, False), (dropped, True)):
        operator = LumaImageGenerateOperator(task_id="t", prompt="x" * 3, cancel_on_kill=cancel)
        operator._generation_id = generation["id"]  # what execute() records right after the create
        operator.on_kill()
    assert {g["id"] for g in emulator.generations} == {kept["id"]}
