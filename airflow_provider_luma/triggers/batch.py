"""
The trigger that runs a whole batch of generations: one trigger per task, not one per item.

On Airflow 3.3+ a deferrable batch task whose ``requests`` the triggerer can render starts here
(``start_from_trigger``): the triggerer renders the operator's templated fields on this trigger's
attributes of the same names, and the trigger validates every item, runs them
(:func:`airflow_provider_luma.batch_flow.run_batch`), keeping each item's record in an XCom of the
task instance, and ends the task when nothing is left for a worker. A batch task that starts in a
worker (its ``requests`` come from an XComArg or a TaskFlow function) defers here once, with its
rendered ``requests``, and resumes on the worker once, with every item's result.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_luma.batches import XCOM_BATCH
from airflow_provider_luma.generations import DEFAULT_SETTLE_SECONDS, XCOM_COST, EventStatus
from airflow_provider_luma.triggers._imports import import_hook_off_the_loop
from airflow_provider_luma.triggers.luma import _error_event, task_success_event, work_for_a_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_luma.batch_flow import BatchOptions, ItemRecords
    from airflow_provider_luma.records import Attempt
    from airflow_provider_luma.run_budget import RunBudget
    from airflow_provider_luma.runs import TriggerRun


class LumaBatchTrigger(BaseTrigger):
    """
    Runs every item of a batch task: validate, create each once, wait, end the task or resume it.

    :param kind: what each item generates, a key of :data:`airflow_provider_luma.kinds.KINDS`.
    :param luma_conn_id: Airflow connection holding the API key.
    :param requests: the items: prompts and dicts of parameters (rendered by the triggerer, or by
        the worker that deferred).
    :param max_in_flight: the most generations of the batch in flight at once.
    :param creates_per_minute: the most creates the batch sends in any minute.
    :param allowed_failures: how many items may fail, a count or a fraction.
    :param poll_interval: seconds between two polls of one generation.
    :param timeout: the longest one item may take, in seconds.
    :param reattach: an item continues what an earlier try paid for.
    :param reuse_on_clear: a clear after success reuses each item's completed generation.
    :param settle_time: seconds Luma's list is watched for what a lost create made.
    :param delete_on_timeout: delete an item's generation when its ``timeout`` passes.
    :param min_credits: fail an item before its create when the balance (US cents) is below this.
    :param max_cost: the most one item's create may be estimated at, in US dollars (None: no cap).
    :param max_run_cost: the most the DAG run's Luma tasks may send, in US dollars (None: no cap).
    :param output_path: where the worker copies the assets (empty: no copy).
    :param started_on_triggerer: Airflow started the task here (else a worker deferred it).
    :param handoff_until: epoch seconds before which the task is never resumed (a worker deferred
        it: Airflow may not have read that worker's exit yet).
    :param params: every item's default parameters, by operator attribute name.
    """

    def __init__(
        self,
        *,
        kind: str,
        luma_conn_id: str,
        requests: Any,
        max_in_flight: int,
        creates_per_minute: int,
        allowed_failures: int | float,
        poll_interval: float,
        timeout: float,
        reattach: bool = True,
        reuse_on_clear: bool = False,
        settle_time: float = DEFAULT_SETTLE_SECONDS,
        delete_on_timeout: bool = False,
        min_credits: int | None = None,
        max_cost: float | None = None,
        max_run_cost: float | None = None,
        output_path: str | None = None,
        started_on_triggerer: bool = False,
        handoff_until: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.luma_conn_id = luma_conn_id
        self.requests = requests
        self.max_in_flight = max_in_flight
        self.creates_per_minute = creates_per_minute
        self.allowed_failures = allowed_failures
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reattach = reattach
        self.reuse_on_clear = reuse_on_clear
        self.settle_time = settle_time
        self.delete_on_timeout = delete_on_timeout
        self.min_credits = min_credits
        self.max_cost = max_cost
        self.max_run_cost = max_run_cost
        self.output_path = output_path
        self.started_on_triggerer = started_on_triggerer
        self.handoff_until = handoff_until
        self.param_names = tuple(params)
        # Attributes of the operator's names: the triggerer renders its templated fields on them.
        for name, value in params.items():
            setattr(self, name, value)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs (never the API key: Airflow shows trigger kwargs)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "luma_conn_id": self.luma_conn_id,
                "requests": self.requests,
                "max_in_flight": self.max_in_flight,
                "creates_per_minute": self.creates_per_minute,
                "allowed_failures": self.allowed_failures,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "reattach": self.reattach,
                "reuse_on_clear": self.reuse_on_clear,
                "settle_time": self.settle_time,
                "delete_on_timeout": self.delete_on_timeout,
                "min_credits": self.min_credits,
                "max_cost": self.max_cost,
                "max_run_cost": self.max_run_cost,
                "output_path": self.output_path,
                "started_on_triggerer": self.started_on_triggerer,
                "handoff_until": self.handoff_until,
                **self.defaults(),
            },
        )

    def defaults(self) -> dict[str, Any]:
        """Every item's default parameters, by operator attribute name."""
        return {name: getattr(self, name) for name in self.param_names}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Run every item; yield the one event that ends or resumes the task."""
        try:
            event = await self._run_batch()
        except Exception as exc:  # an event, not a trigger crash: the task resumes and says why
            self.log.exception("The Luma batch could not run on the triggerer")
            event = _error_event(None, exc, "The Luma batch")
            event.payload["started_on_triggerer"] = self.started_on_triggerer
        yield event

    async def _run_batch(self) -> TriggerEvent:
        from airflow_provider_luma.batch_flow import BatchOptions, run_batch
        from airflow_provider_luma.batches import build_batch, check_allowed_failures, failures_allowed

        requests = build_batch(self.kind, self.requests, self.defaults())
        options = BatchOptions.of(self.kind, self)
        allowed = failures_allowed(check_allowed_failures(self.allowed_failures), len(requests))
        LumaHook = await import_hook_off_the_loop()
        hook = LumaHook(luma_conn_id=self.luma_conn_id)
        credentials = await hook.aget_credentials()
        self.log.info(
            "Running %d Luma %s generations, at most %d in flight and %d created a minute",
            len(requests),
            self.kind,
            options.max_in_flight,
            options.creates_per_minute,
        )
        async with LumaHook.async_session() as session:
            run, attempt, records = self._run_and_records(hook, session, credentials.api_key)
            if run.ti is not None and self.started_on_triggerer and attempt.try_number > 1:
                await run.clear_earlier_results(also=(XCOM_BATCH,))
            dag = getattr(getattr(run.ti, "task", None), "dag", None)
            siblings = tuple(dag.task_ids) if dag is not None else ()
            results = await run_batch(
                requests,
                options,
                run.perform,
                records,
                attempt,
                siblings,
                credentials.base_url,
                self.log,
                credentials.room,
                credentials.prices,
                self._run_budget(run, attempt, options, siblings, credentials.api_key),
            )
        return await self._end(run, results, allowed)

    def _run_budget(
        self, run: TriggerRun, attempt: Attempt, options: BatchOptions, tasks: tuple[str, ...], api_key: str
    ) -> RunBudget | None:
        """The batch's share of its run's ``max_run_cost``: kept in XCom, so only with a task instance."""
        from airflow_provider_luma.run_budget import run_budget_of

        if options.max_run_cost is not None and run.ti is None:
            self.log.warning(
                "max_run_cost is not kept: this trigger runs without a task instance (dag.test() runs "
                "a deferred task's trigger so), and the run's budget lives in its task instances' XComs"
            )
            return None
        return run_budget_of(options.max_run_cost, attempt, tasks, api_key)

    def _run_and_records(
        self, hook: Any, session: Any, api_key: str
    ) -> tuple[TriggerRun, Attempt, ItemRecords]:
        """The run, this try, and where the items keep their records (an XCom each)."""
        from airflow_provider_luma.batch_flow import ItemRecords
        from airflow_provider_luma.records import RECORD_XCOM_KEY, Attempt, RecordSeal
        from airflow_provider_luma.runs import TriggerRun

        ti: Any = self.task_instance
        if ti is None:  # dag.test() runs the trigger inline, with no task instance: nothing is kept
            attempt = Attempt("", "", "", -1, 1)
            run = TriggerRun(hook, session, None, None, self.log)
            return run, attempt, ItemRecords(None, _nothing, _ignore, RECORD_XCOM_KEY, self.log)
        attempt = TriggerRun.attempt_of(ti)
        seal = RecordSeal(api_key, attempt)
        run = TriggerRun(hook, session, ti, seal, self.log)

        async def read(key: str) -> Any:
            return await run.pull(key, ti.task_id, ti.map_index)

        return run, attempt, ItemRecords(seal, read, run.push, RECORD_XCOM_KEY, self.log)

    async def _end(self, run: TriggerRun, results: list[Any], allowed: int) -> TriggerEvent:
        """End the task here when nothing is left for a worker; else the event that resumes it on one."""
        from airflow_provider_luma.batches import manifest

        succeeded = sum(result.succeeded for result in results)
        failed_too_often = len(results) - succeeded > allowed
        if run.ti is not None and self.started_on_triggerer:
            worker_work = work_for_a_worker(self.output_path, self.task)
            if worker_work is None:
                from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

                batch = manifest(results)
                await run.push(XCOM_BATCH, batch)
                if batch["cost"] is not None:  # no XCom when an item has no known price
                    await run.push(XCOM_COST, batch["cost"])
                await run.push(XCOM_RETURN_KEY, [result.value for result in results])
                if not failed_too_often:
                    return task_success_event()
            else:
                self.log.info("Resuming the task on a worker for %s", worker_work)
        elif run.ti is not None and self.handoff_until is not None:
            # Never resume before Airflow has read the exit of the worker that deferred.
            await asyncio.sleep(max(0.0, self.handoff_until - time.time()))
        return TriggerEvent(
            {
                "status": EventStatus.COMPLETED.value,
                "items": [result.to_dict() for result in results],
                "started_on_triggerer": self.started_on_triggerer,
            }
        )


async def _nothing(key: str) -> None:
    return None


async def _ignore(key: str, value: Any) -> None:
    return None


__all__ = ["LumaBatchTrigger"]
