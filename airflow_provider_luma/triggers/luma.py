"""
The Luma triggers: one waits on a generation that exists, one runs a whole generate task.

- :class:`LumaGenerationTrigger` polls a generation a worker created (or the sensor's) and resumes
  the task on a worker with the outcome.
- :class:`LumaGenerateTrigger` is where a deferrable generate task starts on Airflow 3.3+
  (``start_from_trigger``): the triggerer renders the task's parameters, and the trigger validates
  them, creates the generation (paid once), waits for it and ends the task. A task with work only
  a worker can do resumes on one, once, for that work.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_luma.effects import adrive
from airflow_provider_luma.exceptions import LumaError
from airflow_provider_luma.generations import (
    DEFAULT_SETTLE_SECONDS,
    RATE_LIMIT_DEFAULT_PAUSE_SECONDS,
    TERMINAL_STATES,
    XCOM_COST,
    XCOM_GENERATION,
    XCOM_GENERATION_ID,
    EventStatus,
    failed_for_rate_limit,
    rate_limit_pause,
    returned_urls,
)
from airflow_provider_luma.kinds import build_request
from airflow_provider_luma.triggers._imports import import_hook_off_the_loop
from airflow_provider_luma.validation import check_max_cost, check_positive_number

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_luma.flow import WaitOutcome
    from airflow_provider_luma.runs import TriggerRun


def _error_event(generation_id: str | None, exc: Exception, what: str) -> TriggerEvent:
    """The event for anything unexpected: the task resumes and fails with the reason."""
    return TriggerEvent(
        {
            "status": EventStatus.ERROR.value,
            "generation_id": generation_id,
            "message": f"{what} failed: {exc}",
            "final": isinstance(exc, AirflowFailException),
        }
    )


class LumaGenerationTrigger(BaseTrigger):
    """
    Polls ``GET /generations/{id}`` until the generation is completed or failed, or a deadline passes.

    It carries only plain JSON values (never the API key: Airflow shows trigger kwargs) and fetches
    the connection itself, asynchronously. All waits on one triggerer share one HTTP session.
    Whatever goes wrong ends in one event, never in an exception.

    :param generation_id: the generation to wait for.
    :param luma_conn_id: Airflow connection holding the API key.
    :param poll_interval: seconds between two polls.
    :param end_time: deadline, in epoch seconds (absolute, so a wait moved to another triggerer
        keeps it).
    :param delete_on_timeout: delete the generation when the deadline passes (Luma has no cancel).
    :param cancel_on_kill: delete the generation when a user kills the deferred task (Airflow 3.3+
        calls ``on_kill``). A triggerer restart never deletes anything.
    :param first_poll_at: epoch seconds of the first poll. A wait that just created its generation
        sets it ahead: polling a generation created a moment ago only costs a request. None or a
        past time (a trigger restarted later) polls at a random moment within one interval, so that
        waits taken over together do not poll in lockstep.
    :param handoff_until: epoch seconds before which a triggerer never polls, so never resumes the
        task: Airflow may not have read the exit of the worker that deferred it yet, and would fail
        a try resumed before that (see ``DEFERRAL_HANDOFF_SECONDS`` in
        :mod:`airflow_provider_luma.operators.base`). ``dag.test()`` runs the trigger inline, with no
        task instance attached and no hand-off to wait for: there it does not apply.
    """

    def __init__(
        self,
        generation_id: str,
        luma_conn_id: str,
        poll_interval: float,
        end_time: float,
        delete_on_timeout: bool = False,
        cancel_on_kill: bool = False,
        first_poll_at: float | None = None,
        handoff_until: float | None = None,
    ) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.luma_conn_id = luma_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.delete_on_timeout = delete_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.first_poll_at = first_poll_at
        self.handoff_until = handoff_until

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs, as stored in Airflow's trigger table."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "generation_id": self.generation_id,
                "luma_conn_id": self.luma_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "delete_on_timeout": self.delete_on_timeout,
                "cancel_on_kill": self.cancel_on_kill,
                "first_poll_at": self.first_poll_at,
                "handoff_until": self.handoff_until,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the generation ends or the deadline passes; yield exactly one event."""
        from airflow_provider_luma.flow import wait
        from airflow_provider_luma.runs import TriggerRun

        try:
            LumaHook = await import_hook_off_the_loop()
            async with LumaHook.async_session() as session:
                run = TriggerRun(LumaHook(luma_conn_id=self.luma_conn_id), session, None, None, self.log)
                outcome = await adrive(
                    wait(
                        self.generation_id,
                        self.poll_interval,
                        self.end_time,
                        first_wait=self._first_wait(),
                        delete_on_timeout=self.delete_on_timeout,
                        since=time.time(),
                        log=self.log,
                    ),
                    run.perform,
                )
            event = TriggerEvent({"generation_id": self.generation_id, **outcome.payload()})
        except Exception as exc:  # an event, not a trigger crash: the task resumes and says why
            self.log.exception("Waiting on Luma generation %s failed", self.generation_id)
            event = _error_event(self.generation_id, exc, f"Waiting on Luma generation {self.generation_id}")
        yield event

    def _first_wait(self) -> float:
        """
        Seconds until the first poll: until ``first_poll_at``, or else a random part of one interval,
        and never before ``handoff_until`` where a triggerer runs it.

        Waits started together without a ``first_poll_at`` (a restarted triggerer takes over hundreds
        at once) would otherwise poll in lockstep, every interval a burst that stalls the event loop;
        a random phase spreads them and still polls within one interval.
        """
        now = time.time()
        remaining = max(0.0, self.end_time - now)
        if self.first_poll_at is not None and self.first_poll_at > now:
            first_wait = min(self.first_poll_at - now, remaining)
        else:
            first_wait = random.uniform(0.0, min(self.poll_interval, remaining))
        if self.handoff_until is not None and self.task_instance is not None:  # a triggerer runs it
            first_wait = max(first_wait, min(self.handoff_until, self.end_time) - now)
        return first_wait

    async def on_kill(self) -> None:
        """A user killed the deferred task: delete the generation if ``cancel_on_kill``."""
        if self.cancel_on_kill:
            await _delete(self.luma_conn_id, self.generation_id, self.log)


class LumaGenerateTrigger(BaseTrigger):
    """
    Runs a generate task on the triggerer: validate, create once, wait, end the task (Airflow 3.3+).

    Airflow starts a task here when its operator says ``start_from_trigger`` (the generate
    operators do when deferrable and the triggerer can render their parameters). The triggerer
    renders the operator's templated fields on this trigger's attributes of the same names; the
    trigger then:

    1. builds and validates the request (a bad parameter is a final failure that names it);
    2. runs the generation flow (:mod:`airflow_provider_luma.flow`): continues what the task
       instance's record says it paid for (another triggerer's create of this try, or an earlier
       try's generation), or creates, paid once; 429s are waited out here, holding no worker slot.
       A new try first clears the results an earlier try left (``return_value``, the link...);
    3. polls until the generation is completed or failed, or ``timeout`` passes;
    4. ends the task with its XComs (``generation_id``, ``generation``, ``return_value``, the extra
       link) when nothing is left for a worker; else resumes it on a worker, once (to copy the
       asset to ``output_path``, emit Asset events, report OpenLineage, or fail with the reason).

    :param kind: what the task generates, a key of :data:`airflow_provider_luma.kinds.KINDS`.
    :param luma_conn_id: Airflow connection holding the API key.
    :param poll_interval: seconds between two polls.
    :param timeout: longest wait for the generation, in seconds, counted from the start of the try.
    :param reattach: a later try takes up what an earlier try paid for (see the operators').
    :param reuse_on_clear: a clear after success reuses the generation (see the operators').
    :param settle_time: seconds Luma's list is watched for what a lost create made.
    :param delete_on_timeout: delete the generation when ``timeout`` passes.
    :param cancel_on_kill: delete the generation when a user kills the task.
    :param min_credits: fail before creating when the account's balance (US cents) is below this.
    :param max_cost: the most the create may be estimated at, in US dollars (None: no cap).
    :param max_run_cost: the most the DAG run's Luma tasks may send, in US dollars (None: no cap).
    :param output_path: where the worker copies the asset (rendered here: empty means no copy).
    :param params: the kind's parameters, by operator attribute name (rendered by the triggerer).
    """

    def __init__(
        self,
        *,
        kind: str,
        luma_conn_id: str,
        poll_interval: float,
        timeout: float,
        reattach: bool = True,
        reuse_on_clear: bool = False,
        settle_time: float = DEFAULT_SETTLE_SECONDS,
        delete_on_timeout: bool = False,
        cancel_on_kill: bool = False,
        min_credits: int | None = None,
        max_cost: float | None = None,
        max_run_cost: float | None = None,
        output_path: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.luma_conn_id = luma_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reattach = reattach
        self.reuse_on_clear = reuse_on_clear
        self.settle_time = settle_time
        self.delete_on_timeout = delete_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.min_credits = min_credits
        self.max_cost = max_cost
        self.max_run_cost = max_run_cost
        self.output_path = output_path
        self.param_names = tuple(params)
        # Attributes of the operator's names: the triggerer renders its templated fields on them.
        for name, value in params.items():
            setattr(self, name, value)
        self._generation_id: str | None = None  # for on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: the operator's parameters as rendered so far, never the API key."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "luma_conn_id": self.luma_conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "reattach": self.reattach,
                "reuse_on_clear": self.reuse_on_clear,
                "settle_time": self.settle_time,
                "delete_on_timeout": self.delete_on_timeout,
                "cancel_on_kill": self.cancel_on_kill,
                "min_credits": self.min_credits,
                "max_cost": self.max_cost,
                "max_run_cost": self.max_run_cost,
                "output_path": self.output_path,
                **self.request_params(),
            },
        )

    def request_params(self) -> dict[str, Any]:
        """The kind's parameters, by operator attribute name."""
        return {name: getattr(self, name) for name in self.param_names}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Run the task's generation; yield the one event that ends or resumes it."""
        try:
            event = await self._run_task()
        except Exception as exc:  # an event, not a trigger crash: the task resumes and says why
            self.log.exception("The Luma task could not run on the triggerer")
            event = _error_event(self._generation_id, exc, "Generating on the triggerer")
        yield event

    async def _run_task(self) -> TriggerEvent:
        from airflow_provider_luma.adoption import Siblings
        from airflow_provider_luma.flow import Options, WaitOutcome, obtain, wait
        from airflow_provider_luma.records import Record, RecordSeal, Step, plan
        from airflow_provider_luma.run_budget import run_budget_of
        from airflow_provider_luma.runs import TriggerRun

        ti: Any = self.task_instance
        if ti is None:
            raise LumaError("LumaGenerateTrigger runs only where Airflow starts a task on the triggerer")
        request = build_request(self.kind, self.request_params())
        poll_interval = check_positive_number("poll_interval", self.poll_interval)
        timeout = check_positive_number("timeout", self.timeout)
        settle_time = check_positive_number("settle_time", self.settle_time)
        LumaHook = await import_hook_off_the_loop()
        hook = LumaHook(luma_conn_id=self.luma_conn_id)
        attempt = TriggerRun.attempt_of(ti)
        credentials = await hook.aget_credentials()
        seal = RecordSeal(credentials.api_key, attempt)
        async with LumaHook.async_session() as session:
            run = TriggerRun(hook, session, ti, seal, self.log)
            recalled = await run.recall()
            todo = plan(
                recalled, request, attempt, reattach=self.reattach, reuse_on_clear=self.reuse_on_clear
            )
            if todo.step is Step.FINISHED:
                self.log.info(
                    "This try already ended with generation %s", todo.record and todo.record.generation_id
                )
                return task_success_event()
            if not todo.takeover and attempt.try_number > 1:
                await run.clear_earlier_results()
            # A triggerer that takes this try over keeps its deadline.
            started_at = todo.record.started_at if todo.takeover and todo.record else time.time()
            deadline = started_at + timeout
            dag = getattr(ti.task, "dag", None)
            tasks = tuple(dag.task_ids) if dag is not None else ()
            max_cost = check_max_cost("max_cost", self.max_cost)
            max_run_cost = check_max_cost("max_run_cost", self.max_run_cost)
            options = Options(
                deadline,
                settle_time,
                self.min_credits,
                Siblings(tasks),
                credentials.room,
                max_cost,
                credentials.prices,
                run_budget_of(max_run_cost, attempt, tasks, credentials.api_key),
            )
            record = Record.start(todo.request, attempt, started_at)
            generation = await adrive(obtain(todo, record, options, self.log), run.perform)
            self._generation_id = generation["id"]
            await run.push(XCOM_GENERATION_ID, generation["id"])
            cost = options.prices.estimate(todo.request).usd
            if cost is not None:  # no XCom when no price is known
                await run.push(XCOM_COST, cost)
            await run.push(XCOM_GENERATION, generation)
            if generation.get("state") in TERMINAL_STATES:
                outcome = WaitOutcome.of(generation)
            else:
                outcome = await adrive(
                    wait(
                        generation["id"],
                        poll_interval,
                        deadline,
                        first_wait=min(poll_interval, max(0.0, deadline - time.time())),
                        delete_on_timeout=self.delete_on_timeout,
                        since=started_at,
                        log=self.log,
                    ),
                    run.perform,
                )
            if (
                failed_for_rate_limit(outcome.generation)
                and time.time() + RATE_LIMIT_DEFAULT_PAUSE_SECONDS < deadline
            ):
                pause = rate_limit_pause(None)
                self.log.info(
                    "Luma failed generation %s for its rate limit: making it again in %.1f s",
                    generation["id"],
                    pause,
                )
                await asyncio.sleep(pause)
                return await self._run_task()  # this try's record: the failed generation is made again
            return await self._end(run, record.made(generation["id"]), outcome)

    async def _end(self, run: TriggerRun, record: Any, outcome: WaitOutcome) -> TriggerEvent:
        """End the task here when nothing is left for a worker; else the event that resumes it on one."""
        generation = outcome.generation or {}
        url: str | list[str] | None = None
        if outcome.status is EventStatus.COMPLETED:
            # An asset URL that may not be returned fails the task for good, naming it.
            url = returned_urls(generation, (await run.hook.aget_credentials()).base_url)
        worker_work = self.needs_a_worker() if url else None
        if url and worker_work is None:
            from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

            from airflow_provider_luma.effects import Remember
            from airflow_provider_luma.links import LumaGenerationLink
            from airflow_provider_luma.redaction import redacted

            await run.push(XCOM_GENERATION, generation)
            await run.push(XCOM_RETURN_KEY, url)
            # Airflow 3 serves a task's extra links from XComs a worker pushes as the task ends.
            await run.push(LumaGenerationLink().xcom_key, url if isinstance(url, str) else url[0])
            await run.perform(Remember(record.ended()))
            self.log.info("Luma generation %s completed: %s", generation["id"], redacted(str(url)))
            return task_success_event()
        if worker_work:
            self.log.info(
                "Luma generation %s completed; resuming the task on a worker for %s",
                generation["id"],
                worker_work,
            )
        payload = {"generation_id": record.generation_id, "started_on_triggerer": True, **outcome.payload()}
        return TriggerEvent(payload)

    def needs_a_worker(self) -> str | None:
        """What is left after a completed generation that only a worker can do (None: nothing)."""
        return work_for_a_worker(self.output_path, self.task)

    async def on_kill(self) -> None:
        """A user killed the task: delete the generation if ``cancel_on_kill``."""
        if self.cancel_on_kill and self._generation_id:
            await _delete(self.luma_conn_id, self._generation_id, self.log)


def work_for_a_worker(output_path: str | None, task: Any) -> str | None:
    """
    What is left, after the generations of a task that started on the triggerer, that only a worker
    can do (None: nothing, and the triggerer ends the task).

    :param output_path: the task's rendered ``output_path``.
    :param task: the task the triggerer attached (None: unknown).
    """
    if output_path:
        return "the copy to output_path"
    if task is None or getattr(task, "outlets", None):
        # Airflow registers a task's Asset events only when a worker ends it.
        return "the Asset events of its outlets"
    if _openlineage_enabled():
        return "OpenLineage's completion event"  # its listener reports from the worker
    return None


def task_success_event() -> TriggerEvent:
    """The event that ends a task on the triggerer (Airflow 3.3+)."""
    from airflow.triggers.base import TaskSuccessEvent

    return TaskSuccessEvent()


async def _delete(luma_conn_id: str, generation_id: str, log: Any) -> None:
    from airflow_provider_luma.flow import delete
    from airflow_provider_luma.runs import TriggerRun

    LumaHook = await import_hook_off_the_loop()
    async with LumaHook.async_session() as session:
        run = TriggerRun(LumaHook(luma_conn_id=luma_conn_id), session, None, None, log)
        await adrive(delete(generation_id, log), run.perform)


def _openlineage_enabled() -> bool:
    """Whether the OpenLineage provider is installed and configured to send events."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return False
    return not is_disabled()


__all__ = ["LumaGenerateTrigger", "LumaGenerationTrigger"]
