"""
The steps of a generate task that runs on the triggerer, those that talk to Luma and to Airflow:
re-attach to what the task instance already made or create (paid once, rate limits waited out),
and end the task there or hand it to a worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from airflow.triggers.base import TriggerEvent

from airflow_provider_luma.exceptions import (
    LumaInsufficientCreditsError,
    LumaNotFoundError,
    LumaRetryableError,
    LumaTimeoutError,
)
from airflow_provider_luma.generations import (
    XCOM_GENERATION,
    XCOM_GENERATION_ID,
    EventStatus,
    checked_asset_url,
    rate_limit_pause,
)
from airflow_provider_luma.memory import (
    SEARCHING_FOR_CREATE_IN_DOUBT,
    Remembered,
    Step,
    unusable_earlier_generation,
    why_not_reattached,
)

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.kinds import GenerationRequest
    from airflow_provider_luma.memory import TriggerMemory
    from airflow_provider_luma.triggers._wait import WaitOutcome


class StartingTrigger(Protocol):
    """What a task run reads of the trigger that starts its task (a ``LumaGenerateTrigger``)."""

    min_credits: int | None
    timeout: float

    @property
    def log(self) -> Any:
        """The trigger's logger."""

    def needs_a_worker(self) -> str | None:
        """What is left after a completed generation that only a worker can do (None: nothing)."""


class TaskRun:
    """The steps of one ``LumaGenerateTrigger`` run that talk to Luma and to Airflow."""

    def __init__(
        self,
        trigger: StartingTrigger,
        ti: Any,
        hook: LumaHook,
        session: aiohttp.ClientSession,
        memory: TriggerMemory,
        request: GenerationRequest,
        started_at: float,
        deadline: float,
    ) -> None:
        self.trigger = trigger
        self.log = trigger.log
        self.ti = ti
        self.hook = hook
        self.session = session
        self.memory = memory
        self.request = request
        self.started_at = started_at
        self.deadline = deadline

    # -- re-attach or create ----------------------------------------------------------------------

    async def earlier_generation(self, remembered: Remembered | None, step: Step) -> dict[str, Any] | None:
        """The generation this task instance already made, if it is still worth waiting on."""
        if remembered is None:
            return None
        if step is Step.CREATE:
            if reason := why_not_reattached(remembered, self.request):
                self.log.info(reason)
            return None
        if step is Step.SEARCH:
            self.log.warning(SEARCHING_FOR_CREATE_IN_DOUBT)
            found = await self.hook.afind_generation_made_by(
                self.request.body, remembered.sent_at or 0.0, self.session, await self.ids_taken_by_others()
            )
            if found is None:
                self.log.info("Luma lists no generation made by it: creating one")
                return None
            self.log.info("Adopting generation %s, made by that create", found["id"])
            await self.remember(generation_id=found["id"])
            return found
        generation_id = str(remembered.generation_id)
        try:
            generation: dict[str, Any] | None = await self.hook.aget_generation(
                generation_id, self.session, deadline=self.deadline
            )
        except LumaNotFoundError:
            generation = None
        if reason := unusable_earlier_generation(generation, generation_id):
            self.log.info(reason)
            return None
        state = (generation or {}).get("state")
        if remembered.try_number == self.ti.try_number:
            self.log.info("Taking over the wait on generation %s of this try (%s)", generation_id, state)
        else:
            self.log.info(
                "Re-attaching to generation %s created by an earlier try (%s)", generation_id, state
            )
            await self.remember(generation_id=generation_id)  # this try's now
        return generation

    async def create(self) -> dict[str, Any]:
        """Create the generation; wait out Luma's rate limit here, within the task's timeout."""
        trigger = self.trigger
        if trigger.min_credits is not None:
            balance = (await self.hook.aget_credits(self.session)).get("credit_balance")
            if isinstance(balance, (int, float)) and balance < trigger.min_credits:
                raise LumaInsufficientCreditsError(
                    f"Luma credit balance is {balance} US cents, below min_credits={trigger.min_credits}: "
                    "top up the account (or lower min_credits) before generating"
                )
        self.log.info("Creating %s: %s", self.request.path, json.dumps(self.request.body))
        while True:
            try:
                generation = await self.hook.acreate_generation(
                    self.request.path,
                    self.request.body,
                    self.session,
                    on_send=lambda sent_at: self.remember(sent_at=sent_at, body=self.request.body),
                    taken_ids=self.ids_taken_by_others,
                    deadline=self.deadline,
                )
            except LumaRetryableError as exc:
                if exc.http_status != 429:
                    raise
                await self.remember()  # a 429 created nothing: nothing is in doubt
                await self._wait_out_rate_limit(exc.retry_after)
                continue
            await self.remember(generation_id=generation["id"])
            return generation

    async def _wait_out_rate_limit(self, retry_after: float | None) -> None:
        pause = rate_limit_pause(retry_after)
        if time.time() + pause > self.deadline:
            raise LumaTimeoutError(
                f"Luma answered every create with 429 (rate limit) until timeout={self.trigger.timeout:g} s"
            )
        self.log.info("Luma's rate limit is reached: creating again in %.1f s", pause)
        await asyncio.sleep(pause)

    async def ids_taken_by_others(self) -> set[str]:
        """The generation ids the other tasks of this DAG run hold (their ``generation_id`` XCom)."""
        from airflow.providers.common.compat.sdk import XCom

        ti = self.ti
        dag = ti.task.dag
        taken: set[str] = set()
        for task_id in dag.task_ids:
            if task_id == ti.task_id:
                continue  # a task that starts here is not mapped: it has no siblings of its own id
            mapped = getattr(dag.get_task(task_id), "is_mapped", False)
            count = (
                ti.get_ti_count(dag_id=ti.dag_id, task_ids=[task_id], run_ids=[ti.run_id]) if mapped else 0
            )
            for map_index in range(count) if mapped else (-1,):
                value = await XCom.aget_one(
                    key=XCOM_GENERATION_ID,
                    dag_id=ti.dag_id,
                    task_id=task_id,
                    run_id=ti.run_id,
                    map_index=map_index,
                )
                if isinstance(value, str):
                    taken.add(value)
        return taken

    async def remember(self, **fields: Any) -> None:
        """Write this try's record: nothing, a create in doubt, or the generation it made."""
        await self.memory.write(Remembered(self.request.fingerprint, started_at=self.started_at, **fields))

    # -- end ------------------------------------------------------------------------------------------

    async def end(self, outcome: WaitOutcome, generation_id: str) -> TriggerEvent:
        """
        End the task here when nothing is left for a worker; else the event that resumes it on one.

        :param outcome: how the wait on the generation ended.
        :param generation_id: the generation's id (a timed-out outcome carries no generation).
        """
        generation = outcome.generation or {}
        url = None
        if outcome.status is EventStatus.COMPLETED:
            # An asset URL that may not be returned fails the task for good, naming it.
            url = checked_asset_url(generation, (await self.hook.aget_credentials()).base_url)
        worker_work = self.trigger.needs_a_worker() if url else None
        if url and worker_work is None:
            from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

            from airflow_provider_luma.links import LumaGenerationLink

            await self.push(XCOM_GENERATION, generation)
            await self.push(XCOM_RETURN_KEY, url)
            # Airflow 3 serves a task's extra links from XComs a worker pushes as the task ends.
            await self.push(LumaGenerationLink().xcom_key, url)
            await self.remember(generation_id=generation["id"], succeeded=True)
            self.log.info("Luma generation %s completed: %s", generation["id"], url)
            return task_success_event()
        if worker_work:
            self.log.info(
                "Luma generation %s completed; resuming the task on a worker for %s",
                generation["id"],
                worker_work,
            )
        return TriggerEvent(
            {
                "generation_id": generation_id,
                "started_on_triggerer": True,
                **outcome.payload(),
            }
        )

    async def push(self, key: str, value: Any) -> None:
        """Push an XCom of the task instance (the triggerer relays it to Airflow's API)."""
        from airflow.providers.common.compat.sdk import XCom

        ti = self.ti
        await XCom.aset(
            key, value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
        )


def task_success_event() -> TriggerEvent:
    from airflow.triggers.base import TaskSuccessEvent

    return TaskSuccessEvent()
