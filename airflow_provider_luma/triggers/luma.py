"""LumaGenerationTrigger: waits on the triggerer until a Luma generation is done."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_luma.asset_urls import shown_refusal
from airflow_provider_luma.deferral import DELETE_SECONDS, MIN_POLL_SECONDS
from airflow_provider_luma.events import EventStatus
from airflow_provider_luma.exceptions import (
    LumaDeadlineError,
    LumaError,
    LumaRetryableError,
    LumaTransportError,
)
from airflow_provider_luma.generations import GenerationState, asset_url
from airflow_provider_luma.results import XCOM_GENERATION
from airflow_provider_luma.triggers._imports import import_hook_off_the_loop
from airflow_provider_luma.triggers._poll_grid import POLL_GRID_SECONDS, sleep_until_tick

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

    from airflow_provider_luma.hooks.luma import LumaHook


class LumaGenerationTrigger(BaseTrigger):
    """
    Polls ``GET /generations/{id}`` until the generation is completed or failed, or a deadline passes.

    It carries only plain JSON values (never the API key: Airflow shows trigger kwargs) and fetches
    the connection itself, asynchronously. All waits on one triggerer share one HTTP session. Every
    poll, retries included, is bounded by the time left, so the timeout event (and the delete)
    comes within seconds of the deadline even while Luma hangs. Whatever goes wrong ends in one
    event, never in an exception.

    :param generation_id: the generation to wait for.
    :param luma_conn_id: Airflow connection holding the API key.
    :param poll_interval: seconds between two polls.
    :param end_time: deadline, in epoch seconds (absolute, so a wait moved to another triggerer
        keeps it).
    :param delete_on_timeout: delete the generation when the deadline passes (Luma has no cancel).
    :param cancel_on_kill: delete the generation when a user kills the deferred task (Airflow 3.3+
        calls ``on_kill``). A triggerer restart never deletes anything.
    :param first_poll_at: epoch seconds of the first poll. A wait that just created its generation
        sets it one interval ahead: polling a generation created a moment ago only costs a request.
        None or a past time (a trigger restarted later) polls at a random moment within one
        interval, so that waits taken over together do not poll in lockstep.
    :param end_task: when the generation completes, end the task here (its ``generation`` and
        ``return_value`` XComs pushed) instead of resuming it on a worker: one task-process launch
        per image. For tasks with nothing left to do after the wait; anything else (a failure, a
        timeout, an XCom write that fails) still resumes the task on a worker.
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
        end_task: bool = False,
    ) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.luma_conn_id = luma_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.delete_on_timeout = delete_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.first_poll_at = first_poll_at
        self.end_task = end_task

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
                "end_task": self.end_task,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the generation ends or the deadline passes; yield exactly one event."""
        try:
            event = await self._wait()
        except Exception as exc:  # an event, not a trigger crash: the task resumes and says why
            self.log.exception("Waiting on Luma generation %s failed", self.generation_id)
            event = self._event(
                EventStatus.ERROR,
                message=f"Waiting on Luma generation {self.generation_id} failed: {exc}",
                final=isinstance(exc, AirflowFailException),
            )
        yield event

    async def _wait(self) -> TriggerEvent:
        loop = asyncio.get_running_loop()
        await sleep_until_tick(loop.time() + self._first_wait())  # before any set-up: spreads a burst
        LumaHook = await import_hook_off_the_loop()
        hook = LumaHook(luma_conn_id=self.luma_conn_id)
        async with LumaHook.async_session() as session:
            while True:
                polled_at = loop.time()
                generation = await self._poll(hook, session)
                if generation is not None:
                    state = GenerationState.known(generation)
                    if state is GenerationState.COMPLETED:
                        return await self._completed(generation, hook)
                    if state is GenerationState.FAILED:
                        return self._event(EventStatus.FAILED, generation=generation)
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    message = f"Luma generation {self.generation_id} did not finish before the deadline"
                    if self.delete_on_timeout:
                        message += await self._delete(hook, session)
                    return self._event(EventStatus.TIMEOUT, message=message)
                # Fixed rate, a tick early: the next answer arrives within one interval of this
                # poll, so a completion is seen within one interval; a slow answer adds nothing.
                next_poll = polled_at + self.poll_interval - POLL_GRID_SECONDS
                await sleep_until_tick(min(next_poll, loop.time() + remaining))

    async def _poll(self, hook: LumaHook, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        """The generation, or None when Luma could not be asked in time (the wait goes on)."""
        deadline = max(self.end_time, time.time() + MIN_POLL_SECONDS)
        try:
            return await hook.aget_generation(self.generation_id, session, deadline=deadline)
        except (LumaRetryableError, LumaTransportError, LumaDeadlineError) as exc:
            # The hook already retried within the time left; the deadline still bounds us.
            self.log.warning("Polling generation %s failed, will poll again: %s", self.generation_id, exc)
            return None

    async def _completed(self, generation: dict[str, Any], hook: LumaHook) -> TriggerEvent:
        """End the task here if asked to and possible; else the event that resumes it on a worker."""
        url = asset_url(generation)
        # A URL that may not be pushed resumes the task on a worker, whose finish fails it.
        if self.end_task and url and shown_refusal(url, (await hook.aget_credentials()).base_url):
            url = None
        # ``task_instance`` is attached by a triggerer (not by ``dag.test()``): whose XComs to push.
        if self.end_task and url and self.task_instance is not None:
            # Loaded here, on the triggerer: the compat name imports Airflow's XCom model.
            from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

            from airflow_provider_luma.links import LumaGenerationLink
            from airflow_provider_luma.triggers._task_end import task_success_event

            try:
                event = await task_success_event(
                    self.task_instance,
                    {XCOM_GENERATION: generation, XCOM_RETURN_KEY: url},
                    [(LumaGenerationLink(), url)],
                )
            except Exception:
                self.log.exception("Could not end the task here: it resumes on a worker to finish")
            else:
                self.log.info("Luma generation %s completed: %s", self.generation_id, url)
                return event
        return self._event(EventStatus.COMPLETED, generation=generation)

    def _first_wait(self) -> float:
        """
        Seconds until the first poll: until ``first_poll_at``, or else a random part of one interval.

        Waits started together without a ``first_poll_at`` (a restarted triggerer takes over
        hundreds at once) would otherwise poll in lockstep, every interval a burst that stalls the
        event loop; a random phase spreads them and still polls within one interval.
        """
        now = time.time()
        remaining = max(0.0, self.end_time - now)
        if self.first_poll_at is not None and self.first_poll_at > now:
            return min(self.first_poll_at - now, remaining)
        return random.uniform(0.0, min(self.poll_interval, remaining))

    def _event(self, status: EventStatus, **payload: Any) -> TriggerEvent:
        return TriggerEvent({"status": status.value, "generation_id": self.generation_id, **payload})

    async def _delete(self, hook: LumaHook, session: aiohttp.ClientSession) -> str:
        """Delete the generation; say how that went, for the event's message."""
        try:
            await hook.adelete_generation(self.generation_id, session, deadline=time.time() + DELETE_SECONDS)
        except LumaError as exc:
            self.log.warning("Could not delete generation %s: %s", self.generation_id, exc)
            return f"; deleting it failed: {exc}"
        self.log.info("Deleted generation %s", self.generation_id)
        return "; it was deleted"

    async def on_kill(self) -> None:
        """A user killed the deferred task: delete the generation if ``cancel_on_kill``."""
        if not self.cancel_on_kill:
            return
        LumaHook = await import_hook_off_the_loop()
        async with LumaHook.async_session() as session:
            await self._delete(LumaHook(luma_conn_id=self.luma_conn_id), session)
