"""
What a run of a DAG would cost, with nothing created: ``python -m airflow_provider_luma.dry_run DAG_ID``.

Every Luma generate and batch task of the DAG is validated as it would be before its create, and
priced (:mod:`airflow_provider_luma.pricing`, by the connection's prices when it can be read). No
request reaches Luma. What only a run knows is said, not guessed: a task with values templated
with Jinja is checked when a run renders them, and priced by its model, resolution and duration
(which rarely are templated); a task mapped with ``.expand()`` or a TaskFlow decorator's parameters
are known only at run time.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_luma.pricing import PriceTable


@dataclass(frozen=True)
class TaskCost:
    """
    What one task of the DAG would cost.

    :param task_id: the task.
    :param creates: how many generations it would create (None: known only at run time).
    :param usd: US dollars, all its creates together (None: unknown).
    :param note: what was priced, or why it is not known, or the validation error.
    :param valid: its parameters passed the checks a create makes.
    """

    task_id: str
    creates: int | None
    usd: float | None
    note: str
    valid: bool = True


def estimate_dag(dag: Any, prices_of: Any) -> list[TaskCost]:
    """
    What each Luma task of ``dag`` would cost, in task order; other tasks are left out.

    :param dag: the DAG.
    :param prices_of: returns the :class:`~airflow_provider_luma.pricing.PriceTable` of a connection id.
    """
    from airflow_provider_luma.exceptions import LumaValidationError
    from airflow_provider_luma.operators.base import LumaGenerationOperatorBase
    from airflow_provider_luma.operators.batch import LumaBatchOperatorBase

    costs = []
    for task in dag.tasks:
        luma_class = getattr(task, "operator_class", type(task))  # a mapped task's operator
        if not isinstance(luma_class, type) or not issubclass(
            luma_class, (LumaGenerationOperatorBase, LumaBatchOperatorBase)
        ):
            continue
        if luma_class is not type(task):
            costs.append(TaskCost(task.task_id, None, None, "mapped with .expand(): known at run time"))
            continue
        if getattr(task, "python_callable", None) is not None:  # a TaskFlow decorator's
            costs.append(TaskCost(task.task_id, None, None, "its function gives its parameters at run time"))
            continue
        try:
            costs.append(_estimate_task(task, prices_of(task.luma_conn_id)))
        except LumaValidationError as error:
            costs.append(TaskCost(task.task_id, None, None, str(error), valid=False))
    return costs


def _estimate_task(task: Any, prices: PriceTable) -> TaskCost:
    from airflow_provider_luma.batches import build_batch
    from airflow_provider_luma.operators.batch import LumaBatchOperatorBase

    if isinstance(task, LumaBatchOperatorBase):
        if not isinstance(task.requests, (list, tuple)):
            return TaskCost(task.task_id, None, None, "its requests come from an upstream task at run time")
        items = [
            {**task.defaults(), **(item if isinstance(item, dict) else {"prompt": item})}
            for item in task.requests
        ]
        templated = _templated(items)
        if templated:
            bodies = [_priced_fields(task.kind, item) for item in items]
        else:
            bodies = [request.body for request in build_batch(task.kind, task.requests, task.defaults())]
    else:
        params = task.request_params()
        templated = _templated(params)
        bodies = [_priced_fields(task.kind, params) if templated else task.build_request().body]
    estimates = [prices.estimate_body(body) for body in bodies]
    usd = None if any(e.usd is None for e in estimates) else round(sum(e.usd or 0.0 for e in estimates), 6)
    note = ", ".join(sorted({e.what for e in estimates})) + ("" if usd is not None else ": no known price")
    if templated:
        note += " (templated values are checked at run time)"
    if task.max_cost is not None and any(estimate.over(task.max_cost) for estimate in estimates):
        refused = f"{note}; over max_cost ${task.max_cost:g}"
        return TaskCost(task.task_id, len(bodies), usd, refused, valid=False)
    return TaskCost(task.task_id, len(bodies), usd, note)


def _templated(value: Any) -> bool:
    """True when ``value`` holds a Jinja template anywhere (known only when a run renders it)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_templated(item) for item in value)
    return False


def _priced_fields(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """What a price depends on, from parameters some of which are templated (a template: unknown)."""
    from airflow_provider_luma.kinds import KINDS

    # A kind only the Agents API has (layering) is its own type.
    body: dict[str, Any] = {"generation_type": KINDS[kind].generation_type if kind in KINDS else kind}
    for name in ("model", "resolution", "duration"):
        value = params.get(name)
        body[name] = "(templated)" if _templated(value) else value
    return body


def dag_run_budget(dag: Any) -> float | None:
    """The smallest ``max_run_cost`` of the DAG's tasks (each task holds the run to its own), or None."""
    budgets = [task.max_run_cost for task in dag.tasks if getattr(task, "max_run_cost", None) is not None]
    return min(budgets) if budgets else None


def over_budget(costs: Sequence[TaskCost], max_run_cost: float | None) -> bool:
    """
    True when what the run's tasks are known to cost is over ``max_run_cost``.

    :param costs: the Luma tasks' costs.
    :param max_run_cost: the run's budget (None: none).
    """
    known = sum(cost.usd for cost in costs if cost.usd is not None)
    return max_run_cost is not None and round(known, 6) > max_run_cost


def report(dag_id: str, costs: Sequence[TaskCost], max_run_cost: float | None = None) -> str:
    """
    The dry run's table and total, as printed.

    :param dag_id: the DAG.
    :param costs: its Luma tasks' costs.
    :param max_run_cost: the run's budget, if its tasks have one.
    """
    lines = [f"Luma dry run of {dag_id}: nothing was created", ""]
    width = max([len(cost.task_id) for cost in costs] + [4])
    for cost in costs:
        usd = "unknown" if cost.usd is None else f"${cost.usd:.4f}"
        creates = "?" if cost.creates is None else str(cost.creates)
        mark = "" if cost.valid else "  REFUSED"
        lines.append(f"{cost.task_id:<{width}}  {creates:>4} x  {usd:>10}  {cost.note}{mark}")
    known = [cost.usd for cost in costs if cost.usd is not None]
    unknown = len(costs) - len(known)
    total = f"${sum(known):.4f}" + (f" and {unknown} task(s) of unknown cost" if unknown else "")
    lines += ["", f"total: {total}" if costs else "no Luma task in this DAG"]
    if max_run_cost is not None:
        verdict = (
            "OVER: the tasks that create last would be refused"
            if over_budget(costs, max_run_cost)
            else "within"
        )
        lines.append(f"max_run_cost: ${max_run_cost:g} ({verdict})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Print what a run of a DAG would cost; exit 1 when a Luma task would be refused, or the run's
    known cost is over its ``max_run_cost``.

    :param argv: the command line (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_luma.dry_run",
        description="Validate every Luma task of a DAG and print what a run would cost, creating nothing.",
    )
    parser.add_argument("dag_id")
    parser.add_argument("--subdir", help="the DAGs folder or file (default: Airflow's dags_folder)")
    args = parser.parse_args(argv)
    dag = _load_dag(args.dag_id, args.subdir)
    if dag is None:
        print(f"No DAG {args.dag_id!r} in the DAGs folder", file=sys.stderr)
        return 2
    costs = estimate_dag(dag, _prices_of)
    budget = dag_run_budget(dag)
    print(report(args.dag_id, costs, budget))
    return 0 if all(cost.valid for cost in costs) and not over_budget(costs, budget) else 1


def _load_dag(dag_id: str, subdir: str | None) -> Any:
    from airflow.configuration import conf

    folder = subdir or conf.get("core", "dags_folder")
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3

        bag = DagBag(dag_folder=folder)
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

        bag = DagBag(dag_folder=folder, include_examples=False)  # type: ignore[call-arg]
    return bag.dags.get(dag_id)


def _prices_of(conn_id: str) -> PriceTable:
    """The connection's prices; Luma's published ones when it cannot be read here."""
    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.pricing import PriceTable

    try:
        return LumaHook(luma_conn_id=conn_id).credentials.prices
    except Exception as error:  # a dry run prices by the table rather than not at all
        print(f"(connection {conn_id!r}: {error}; Luma's published prices are used)", file=sys.stderr)
        return PriceTable()


if __name__ == "__main__":
    sys.exit(main())
