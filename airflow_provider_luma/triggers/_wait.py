"""
Waiting on one generation from the triggerer: the poll loop both Luma triggers share.

Polls at a fixed rate until Luma reports the generation completed or failed, or the deadline
passes. Every poll, retries included, is bounded by the time left, so the end comes within seconds
of the deadline even while Luma hangs. Each change of state is logged once, with the time since
the wait began, in the task's log.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import (
    LumaDeadlineError,
    LumaError,
    LumaRetryableError,
    LumaTransportError,
)
from airflow_provider_luma.generations import DELETE_SECONDS, MIN_POLL_SECONDS, EventStatus, GenerationState

if TYPE_CHECKING:
    import aiohttp
    from airflow.sdk.types import Logger

    from airflow_provider_luma.hooks.luma import LumaHook


@dataclass(frozen=True)
class WaitOutcome:
    """
    How a wait ended: the trigger event's status and what it carries.

    :param status: completed, failed or timeout.
    :param generation: the final generation (completed, failed).
    :param message: why it ended (timeout).
    """

    status: EventStatus
    generation: dict[str, Any] | None = None
    message: str | None = None

    def payload(self) -> dict[str, Any]:
        """The event payload's part that says how the wait ended."""
        if self.generation is not None:
            return {"status": self.status.value, "generation": self.generation}
        return {"status": self.status.value, "message": self.message}


@dataclass
class GenerationWait:
    """
    One wait on one generation.

    :param hook: the hook whose connection is asked.
    :param session: the triggerer's shared aiohttp session.
    :param generation_id: the generation.
    :param poll_interval: seconds between two polls.
    :param end_time: deadline, in epoch seconds.
    :param delete_on_timeout: delete the generation when the deadline passes.
    :param log: the trigger's logger (its lines go to the task's log).
    :param since: epoch seconds the logged elapsed times count from.
    """

    hook: LumaHook
    session: aiohttp.ClientSession
    generation_id: str
    poll_interval: float
    end_time: float
    delete_on_timeout: bool
    log: Logger
    since: float

    async def until_done(self, first_wait: float) -> WaitOutcome:
        """
        Poll until the generation is completed or failed, or the deadline passes.

        :param first_wait: seconds before the first poll.
        """
        loop = asyncio.get_running_loop()
        await asyncio.sleep(first_wait)
        last_state: str | None = None
        while True:
            polled_at = loop.time()
            generation = await self._poll()
            if generation is not None:
                state = GenerationState.known(generation)
                if state.value != last_state:
                    last_state = state.value
                    self.log.info(
                        "Luma generation %s is %s (%.1f s)",
                        self.generation_id,
                        state.value,
                        time.time() - self.since,
                    )
                if state is GenerationState.COMPLETED:
                    return WaitOutcome(EventStatus.COMPLETED, generation)
                if state is GenerationState.FAILED:
                    return WaitOutcome(EventStatus.FAILED, generation)
            remaining = self.end_time - time.time()
            if remaining <= 0:
                message = f"Luma generation {self.generation_id} did not finish before the deadline"
                if self.delete_on_timeout:
                    message += await self.delete()
                return WaitOutcome(EventStatus.TIMEOUT, message=message)
            # Fixed rate: the next answer arrives within one interval of this poll, so a
            # completion is seen within one interval; a slow answer adds nothing.
            await asyncio.sleep(max(0.0, min(polled_at + self.poll_interval - loop.time(), remaining)))

    async def _poll(self) -> dict[str, Any] | None:
        """The generation, or None when Luma could not be asked in time (the wait goes on)."""
        deadline = max(self.end_time, time.time() + MIN_POLL_SECONDS)
        try:
            return await self.hook.aget_generation(self.generation_id, self.session, deadline=deadline)
        except (LumaRetryableError, LumaTransportError, LumaDeadlineError) as exc:
            # The hook already retried within the time left; the deadline still bounds us.
            self.log.warning("Polling generation %s failed, will poll again: %s", self.generation_id, exc)
            return None

    async def delete(self) -> str:
        """Delete the generation; say how that went, for the event's message."""
        try:
            await self.hook.adelete_generation(
                self.generation_id, self.session, deadline=time.time() + DELETE_SECONDS
            )
        except LumaError as exc:
            self.log.warning("Could not delete generation %s: %s", self.generation_id, exc)
            return f"; deleting it failed: {exc}"
        self.log.info("Deleted generation %s", self.generation_id)
        return "; it was deleted"
