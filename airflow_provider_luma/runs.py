"""
Where the generation flow runs: a worker's try and a triggerer's, each performing the flow's effects
(:mod:`airflow_provider_luma.effects`) its own way and keeping the task instance's record where it
can reach it (:mod:`airflow_provider_luma.records`).

- :class:`WorkerRun`: blocking calls (requests), the record in the task state store (Airflow
  3.3+; before that a retry starts afresh), sibling XComs read through the task instance.
- :class:`TriggerRun`: non-blocking calls (the triggerer's shared aiohttp session), the record in an
  XCom of the task instance (the triggerer relays XCom calls, not task state store calls).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.effects import Call, KeepSpend, RecallSpend, Remember, Sleep, Upload, XComValues
from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.records import RECORD_XCOM_KEY, STATE_STORE_KEY, Attempt, RecordSeal
from airflow_provider_luma.run_budget import XCOM_RUN_SPEND

if TYPE_CHECKING:
    from collections.abc import Callable

    import aiohttp
    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

    from airflow_provider_luma.effects import Effect
    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.records import Record


class WorkerRun:
    """
    One try of a task in a worker.

    :param hook: the task's hook.
    :param context: the task context.
    :param log: the task's logger.
    :param on_rate_limit: called with the seconds Luma's rate limit asks to wait; it may defer the
        task (and not return). None: the worker sleeps.
    """

    def __init__(
        self,
        hook: LumaHook,
        context: Context,
        log: Logger,
        on_rate_limit: Callable[[float], None] | None = None,
    ) -> None:
        self.hook = hook
        self.ti = context["ti"]
        self.dag_run = context.get("dag_run")
        self.log = log
        self.on_rate_limit = on_rate_limit
        self.store = context.get("task_state_store")

    @cached_property
    def attempt(self) -> Attempt:
        """This try."""
        return Attempt.of(self.ti, self.dag_run, max_tries_known=True)

    def recall(self) -> Record | None:
        """The record an earlier try (or this try, before a deferral) left, if it opens."""
        if self.store is None:
            return None
        return self._seal.open(self.store.get(STATE_STORE_KEY), self.log)

    def remember(self, record: Record) -> None:
        """
        Keep ``record`` as this task instance's.

        :param record: the record.
        """
        if self.store is not None:
            self.store.set(STATE_STORE_KEY, self._seal.seal(record))

    def perform(self, effect: Effect) -> Any:
        """Perform one effect of the flow."""
        if isinstance(effect, Sleep) and effect.rate_limited and self.on_rate_limit is not None:
            self.on_rate_limit(effect.seconds)
        if isinstance(effect, Remember):
            return self.remember(effect.record)
        if isinstance(effect, XComValues):
            values = self.ti.xcom_pull(task_ids=[effect.task_id], key=effect.key)
            return [] if values is None else list(values)
        if isinstance(effect, (KeepSpend, RecallSpend)):
            return keep_spend_in_worker(effect, self.ti, self.store)
        return self.hook.perform(effect)

    @cached_property
    def _seal(self) -> RecordSeal:
        return RecordSeal(self.hook.credentials.api_key, self.attempt)

    def end(self, *, started_on_triggerer: bool) -> None:
        """
        The try succeeded: its record says so, and stays (a retry after Airflow failed the try
        anyway takes up what it paid for; a clear makes a new image).

        :param started_on_triggerer: the try started on the triggerer, whose record is an XCom.
        """
        if not started_on_triggerer and self.store is None:
            return  # nothing was recorded
        ti, seal = self.ti, self._seal
        if started_on_triggerer:
            stored = ti.xcom_pull(task_ids=ti.task_id, key=RECORD_XCOM_KEY, map_indexes=ti.map_index)
            record = seal.open(stored, self.log)
        else:
            record = self.recall()
        if record is None or record.try_number != self.attempt.try_number:
            return
        if started_on_triggerer:
            ti.xcom_push(key=RECORD_XCOM_KEY, value=seal.seal(record.ended()))
        else:
            self.remember(record.ended())


class TriggerRun:
    """
    One try of a task on the triggerer (Airflow 3.3+: a task that starts there).

    :param hook: the task's hook.
    :param session: the triggerer's shared aiohttp session.
    :param ti: the task instance the triggerer attached (None: a wait, which needs none).
    :param seal: seals and opens the task instance's records (None: a wait, which keeps none).
    :param log: the trigger's logger (its lines go to the task's log).
    """

    def __init__(
        self, hook: LumaHook, session: aiohttp.ClientSession, ti: Any, seal: RecordSeal | None, log: Logger
    ) -> None:
        self.hook = hook
        self.session = session
        self.ti = ti
        self.seal = seal
        self.log = log

    @staticmethod
    def attempt_of(ti: Any) -> Attempt:
        """
        The attempt of the task instance a triggerer attached (its ``max_tries`` is not Airflow's).

        :param ti: the task instance.
        """
        context = ti.get_template_context() if hasattr(ti, "get_template_context") else {}
        return Attempt.of(ti, context.get("dag_run"), max_tries_known=False)

    async def recall(self) -> Record | None:
        """The record of this task instance, if it opens: this try's (a take-over) or an earlier try's."""
        assert self.seal is not None
        return self.seal.open(await self.pull(RECORD_XCOM_KEY, self.ti.task_id, self.ti.map_index), self.log)

    async def perform(self, effect: Effect) -> Any:
        """Perform one effect of the flow."""
        if isinstance(effect, Call):
            return await self.hook.async_transport.call(self.session, **asdict(effect))
        if isinstance(effect, Upload):  # reading object storage would block the event loop
            raise LumaValidationError(
                "ObjectStoragePath",
                "a file in object storage is uploaded by a task's worker, not on the triggerer (a batch "
                "takes URLs, generation ids or files already uploaded: {'file_id': ...})",
            )
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
        elif isinstance(effect, Remember):
            assert self.seal is not None, "a wait remembers nothing"
            await self.push(RECORD_XCOM_KEY, self.seal.seal(effect.record))
        elif isinstance(effect, XComValues):
            return await self._all_map_indexes(effect)
        elif isinstance(effect, KeepSpend):
            await self.push(XCOM_RUN_SPEND, effect.entry)
        elif isinstance(effect, RecallSpend):
            return await self.pull(XCOM_RUN_SPEND, self.ti.task_id, self.ti.map_index)
        return None

    async def _all_map_indexes(self, effect: XComValues) -> list[Any]:
        # One at a time: the triggerer relays no request for a whole XCom sequence (3.3.2).
        ti = self.ti
        task = ti.task.dag.get_task(effect.task_id)
        if getattr(task, "is_mapped", False):
            count = ti.get_ti_count(dag_id=ti.dag_id, task_ids=[effect.task_id], run_ids=[ti.run_id])
            indexes: range | tuple[int] = range(count)
        else:
            indexes = (-1,)
        return [await self.pull(effect.key, effect.task_id, index) for index in indexes]

    async def clear_earlier_results(self, also: tuple[str, ...] = ()) -> None:
        """
        An earlier try's results must not pass for this try's while it runs, nor after it fails.

        :param also: more XCom keys of results (a batch's manifest).
        """
        from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

        from airflow_provider_luma.generations import XCOM_COST, XCOM_GENERATION, XCOM_GENERATION_ID
        from airflow_provider_luma.links import LumaGenerationLink

        link = LumaGenerationLink().xcom_key
        keys = (XCOM_RETURN_KEY, link, XCOM_GENERATION, XCOM_GENERATION_ID, XCOM_COST, *also)
        for key in keys:
            await self.push(key, None)

    async def pull(self, key: str, task_id: str, map_index: int) -> Any:
        """One XCom of this run."""
        from airflow.providers.common.compat.sdk import XCom

        ti = self.ti
        return await XCom.aget_one(
            key=key, dag_id=ti.dag_id, task_id=task_id, run_id=ti.run_id, map_index=map_index
        )

    async def push(self, key: str, value: Any) -> None:
        """Push an XCom of the task instance (the triggerer relays it to Airflow's API)."""
        from airflow.providers.common.compat.sdk import XCom

        ti = self.ti
        await XCom.aset(
            key, value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
        )


class WorkerBatchRun(TriggerRun):
    """
    A batch run in a worker's own event loop (Airflow before 3.3, or not deferrable): the calls of
    a trigger's run, and the run's XComs read through the task instance.

    :param hook: the task's hook.
    :param session: an aiohttp session of that loop.
    :param ti: the worker's task instance.
    :param log: the task's logger.
    """

    def __init__(
        self, hook: LumaHook, session: aiohttp.ClientSession, ti: Any, log: Logger, store: Any = None
    ) -> None:
        super().__init__(hook, session, None, None, log)
        self.worker_ti = ti
        self.store = store

    async def perform(self, effect: Effect) -> Any:
        """Perform one effect of the flow."""
        if isinstance(effect, XComValues):
            values = self.worker_ti.xcom_pull(task_ids=[effect.task_id], key=effect.key)
            return [] if values is None else list(values)
        if isinstance(effect, (KeepSpend, RecallSpend)):
            return keep_spend_in_worker(effect, self.worker_ti, self.store)
        return await super().perform(effect)


def keep_spend_in_worker(effect: KeepSpend | RecallSpend, ti: Any, store: Any) -> Any:
    """
    A worker keeps its entry of the run's budget in XCom, where the run's tasks read it, and where
    its next try reads it: Airflow clears a task instance's XComs as a new try starts in a worker,
    so there in the task state store (Airflow 3.3+), else in an Airflow Variable of its own.

    :param effect: keep or recall the entry.
    :param ti: the worker's task instance.
    :param store: its task state store (None before Airflow 3.3).
    """
    if isinstance(effect, RecallSpend):
        return store.get(XCOM_RUN_SPEND) if store is not None else _spend_variable(ti).recall()
    ti.xcom_push(key=XCOM_RUN_SPEND, value=effect.entry)
    if store is not None:
        store.set(XCOM_RUN_SPEND, effect.entry)
    else:
        _spend_variable(ti).keep(effect.entry)
    return None


class _SpendVariable:
    """
    Where a task instance's entry of its run's budget outlives its tries before Airflow 3.3: an
    Airflow Variable of its own, written only by that task instance (one per task instance of a run
    with ``max_run_cost``: delete old ones with ``airflow variables delete``).

    :param key: the Variable's key.
    :param description: what it is, for Airflow's Variables page.
    """

    def __init__(self, key: str, description: str) -> None:
        self.key = key
        self.description = description

    def recall(self) -> Any:
        from airflow.providers.common.compat.sdk import Variable

        stored = Variable.get(self.key, None)
        try:
            return json.loads(stored) if isinstance(stored, str) else None
        except ValueError:
            return None

    def keep(self, entry: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(self.key, json.dumps(entry), self.description)


def _spend_variable(ti: Any) -> _SpendVariable:
    """The Variable of ``ti``'s entry: its key a digest of the task instance (keys have a length limit)."""
    identity = [ti.dag_id, ti.run_id, ti.task_id, ti.map_index]
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]
    description = f"Luma run budget: what {ti.dag_id}.{ti.task_id}[{ti.map_index}] of run {ti.run_id} sent"
    return _SpendVariable(f"{XCOM_RUN_SPEND}_{digest}", description)
