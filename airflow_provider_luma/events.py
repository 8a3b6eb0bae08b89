"""The one event a Luma trigger yields, and what the resumed task makes of it."""

from __future__ import annotations

import enum
from typing import Any

from airflow_provider_luma.exceptions import LumaError, LumaFinalError, LumaTimeoutError


class EventStatus(str, enum.Enum):
    """The ``status`` of the event a Luma trigger yields."""

    COMPLETED = "completed"  # carries "generation"
    FAILED = "failed"  # the generation failed; carries "generation"
    TIMEOUT = "timeout"  # the deadline passed first; carries "message"
    ERROR = "error"  # Luma could not be asked, or answered nonsense; carries "message" and "final"


def generation_from_event(event: Any) -> dict[str, Any]:
    """
    The finished generation a trigger event carries; raise for timeouts, errors and bad events.

    :param event: the payload of a :class:`~airflow_provider_luma.triggers.luma.LumaGenerationTrigger`
        event, ``{status, generation_id, generation | message}``.
    :raises LumaTimeoutError: the deadline passed first.
    :raises LumaFinalError: the trigger met an error that retrying cannot fix (401, 403, 404).
    """
    if not isinstance(event, dict) or "status" not in event:
        raise LumaError(f"Luma trigger sent no usable event: {event!r}")
    status = event["status"]
    if status in (EventStatus.COMPLETED, EventStatus.FAILED) and isinstance(event.get("generation"), dict):
        return event["generation"]
    if status == EventStatus.TIMEOUT:
        raise LumaTimeoutError(event.get("message") or "Luma generation timed out")
    if status == EventStatus.ERROR:
        message = event.get("message") or "Luma trigger failed"
        raise LumaFinalError(message) if event.get("final") else LumaError(message)
    raise LumaError(f"Luma trigger sent an unknown event: {event!r}")
