"""
Whether Airflow can start a generate task on the triggerer (3.3+), and what it starts it with.

Airflow 3.3's triggerer renders a task's templated fields itself, from the serialized DAG, before
the trigger runs. It resolves no XComArg, and of the template context it serves only what needs no
call or a call its supervisor relays (variables, connections): ``ti.xcom_pull`` (which asks for an
XCom sequence), previous runs and asset events make the trigger wait forever for an answer that
never comes (seen on 3.3.2: "Unable to decode message ... GetXComSequenceSlice"). It renders
with a plain Jinja environment: no DAG macros or filters of the user's, no native objects. A task
that needs any of that starts in a worker, as before; the reason is logged when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.triggers.base import StartTriggerArgs

#: Template context names the triggerer serves (values of the run, variables, connections).
TRIGGERER_CONTEXT = frozenset(
    {
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds",
        "ds_nodash",
        "logical_date",
        "macros",
        "params",
        "partition_date",
        "partition_key",
        "run_id",
        "task",
        "task_instance_key_str",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "var",
    }
)


def why_not_on_the_triggerer(values: list[Any], dag: Any) -> str | None:
    """
    Why the triggerer cannot render these parameter values (None: it can).

    :param values: the task's request parameters and ``output_path``, as written in the DAG file.
    :param dag: the task's DAG, or None.
    """
    from airflow.providers.common.compat.sdk import XComArg

    if next(XComArg.iter_xcom_references(values), None) is not None:
        return "a parameter is an XComArg, which the triggerer does not resolve"
    if dag is not None:
        if getattr(dag, "render_template_as_native_obj", False):
            return "the DAG renders templates as native objects, which the triggerer does not"
        if getattr(dag, "user_defined_macros", None) or getattr(dag, "user_defined_filters", None):
            return "the DAG defines its own template macros or filters, which the triggerer lacks"
    for template in _templates(values):
        if reason := _unservable(template):
            return reason
    return None


def _templates(value: Any) -> Iterator[str]:
    """Every string of ``value`` (nested lists and dicts included) that holds Jinja markup."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _templates(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _templates(item)


def _unservable(template: str) -> str | None:
    """Why the triggerer cannot render ``template`` (None: it can)."""
    import jinja2
    from jinja2 import meta, nodes

    environment = jinja2.Environment()
    try:
        parsed = environment.parse(template)
    except jinja2.TemplateSyntaxError as exc:
        return f"a template does not parse ({exc.message})"
    filters = {node.name for node in parsed.find_all(nodes.Filter)} - set(environment.filters)
    if filters:
        return f"a template uses the filters {', '.join(sorted(filters))}, which the triggerer lacks"
    names = meta.find_undeclared_variables(parsed) - TRIGGERER_CONTEXT
    if names:
        return f"a template uses {', '.join(sorted(names))}, which the triggerer cannot serve"
    return None


def start_trigger_args(operator: Any) -> StartTriggerArgs:
    """
    What Airflow starts the operator's task with on the triggerer: its ``LumaGenerateTrigger``.

    The kwargs carry the operator's parameters as written (the triggerer renders the templated
    ones) and its options, durations in seconds; never the API key (Airflow shows trigger kwargs).

    :param operator: a deferrable generate operator (``LumaGenerationOperatorBase``) whose parameters
        the triggerer can render.
    """
    from airflow.triggers.base import StartTriggerArgs

    from airflow_provider_luma.exceptions import LumaValidationError
    from airflow_provider_luma.generations import DEFERRAL_MARGIN
    from airflow_provider_luma.validation import check_positive_number

    def seconds(param: str, value: Any) -> Any:
        try:
            return check_positive_number(param, value)
        except LumaValidationError:
            return value  # the trigger fails the task with the parameter's error

    timeout = seconds("timeout", operator.timeout)
    return StartTriggerArgs(
        trigger_cls="airflow_provider_luma.triggers.luma.LumaGenerateTrigger",
        trigger_kwargs={
            "kind": operator.kind,
            "luma_conn_id": operator.luma_conn_id,
            "poll_interval": operator.poll_interval,
            "timeout": timeout,
            "reattach": operator.reattach,
            "reuse_on_clear": operator.reuse_on_clear,
            "settle_time": seconds("settle_time", operator.settle_time),
            "delete_on_timeout": operator.delete_on_timeout,
            "cancel_on_kill": operator.cancel_on_kill,
            "min_credits": operator.min_credits,
            "max_cost": operator.max_cost,
            "max_run_cost": operator.max_run_cost,
            "output_path": None if operator.output_path is None else str(operator.output_path),
            **operator.request_params(),
        },
        next_method="execute_complete",
        next_kwargs=None,
        timeout=timedelta(seconds=timeout) + DEFERRAL_MARGIN if isinstance(timeout, float) else None,
    )


def say_why_in_a_worker(operator: Any, ti: Any, why: str | None) -> None:
    """
    Log, on Airflow 3.3+, why a deferrable task started in a worker and not on the triggerer.

    :param operator: the generate operator (``LumaGenerationOperatorBase``).
    :param ti: its task instance.
    :param why: what keeps its parameters from the triggerer (None: nothing).
    """
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

    if AIRFLOW_V_3_3_PLUS and operator.deferrable and operator.wait_for_completion:
        mapped = ti.map_index is not None and ti.map_index >= 0
        why = "Airflow 3.3 starts no mapped task there" if mapped else why
        operator.log.info(
            "Starting in a worker, not on the triggerer: %s",
            why or "Airflow started it here (dag.test() and `airflow tasks test` start every task so)",
        )
