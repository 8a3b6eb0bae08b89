"""
Which generate tasks Airflow 3.3+ starts on the triggerer, and with what: decided when the DAG file
is parsed, from what the triggerer can render.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.providers.common.compat.sdk import DAG
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator, LumaVideoGenerateOperator

needs_3_3 = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")


def image(dag_kwargs: dict | None = None, **kwargs) -> LumaImageGenerateOperator:
    with DAG(
        dag_id="luma_start_decision", schedule=None, start_date=datetime(2025, 1, 1), **(dag_kwargs or {})
    ):
        return LumaImageGenerateOperator(
            task_id="generate", **{"prompt": "a red kite", "deferrable": True, **kwargs}
        )


@needs_3_3
@pytest.mark.parametrize(
    "prompt",
    [
        "a red kite over a ridge",
        "a {{ params.bird }} over {{ var.value.get('ridge', 'a ridge') }} (run {{ run_id }}, {{ ds }})",
        "{% if params.night %}a kite at night{% else %}a kite at noon{% endif %}",
        "a kite at {{ macros.ds_add(ds, 1) }}",
    ],
)
def test_a_task_the_triggerer_can_render_starts_there(prompt):
    operator = image(prompt=prompt, image_ref=[{"url": "https://example.com/{{ params.bird }}.png"}])
    assert operator.start_from_trigger is True
    args = operator.start_trigger_args
    assert args.trigger_cls == "airflow_provider_luma.triggers.luma.LumaGenerateTrigger"
    assert args.next_method == "execute_complete"
    assert args.trigger_kwargs["prompt"] == prompt  # rendered there, from the templated field
    assert args.trigger_kwargs["image_ref"] == [{"url": "https://example.com/{{ params.bird }}.png"}]
    assert args.trigger_kwargs["kind"] == "image"
    assert args.timeout.total_seconds() == 30 * 60 + 60  # the operator's timeout, plus a margin


@needs_3_3
@pytest.mark.parametrize(
    ("kwargs", "dag_kwargs", "said"),
    [
        pytest.param(
            {"prompt": "like {{ ti.xcom_pull(task_ids='first') }}"}, None, "uses ti", id="ti.xcom_pull"
        ),
        pytest.param(
            {"style_ref": [{"url": "{{ task_instance.xcom_pull('first') }}"}]},
            None,
            "uses task_instance",
            id="nested",
        ),
        pytest.param({"prompt": "a kite {{ logical_date | ds }}"}, None, "filters ds", id="Airflow filter"),
        pytest.param(
            {"prompt": "a kite {{ prev_start_date_success }}"},
            None,
            "prev_start_date_success",
            id="previous run",
        ),
        pytest.param({"prompt": "{{ unclosed"}, None, "does not parse", id="bad template"),
        pytest.param({}, {"render_template_as_native_obj": True}, "native objects", id="native DAG"),
        pytest.param({}, {"user_defined_macros": {"bird": "kite"}}, "macros or filters", id="user macros"),
        pytest.param({"deferrable": False}, None, "start_from_trigger is False", id="not deferrable"),
        pytest.param({"start_from_trigger": False}, None, "start_from_trigger is False", id="opted out"),
        pytest.param({"wait_for_completion": False}, None, "start_from_trigger is False", id="no wait"),
    ],
)
def test_a_task_the_triggerer_cannot_render_starts_in_a_worker(kwargs, dag_kwargs, said):
    operator = image(dag_kwargs, **kwargs)
    assert operator.start_from_trigger is False
    assert operator.start_trigger_args is None
    assert said in operator._why_in_a_worker


@needs_3_3
def test_an_xcomarg_parameter_starts_in_a_worker():
    from airflow.providers.common.compat.sdk import task

    with DAG(dag_id="luma_start_xcomarg", schedule=None, start_date=datetime(2025, 1, 1)):

        @task
        def prompt() -> str:
            return "a red kite"

        operator = LumaVideoGenerateOperator(task_id="generate", prompt=prompt(), deferrable=True)
    assert operator.start_from_trigger is False
    assert "XComArg" in operator._why_in_a_worker


@pytest.mark.skipif(AIRFLOW_V_3_3_PLUS, reason="Airflow before 3.3 starts every task in a worker")
def test_airflow_before_3_3_starts_every_task_in_a_worker():
    assert image().start_from_trigger is False
