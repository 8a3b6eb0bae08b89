"""What the operators and the sensor share about waiting: states, events, XCom keys, results."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import LumaError, LumaTimeoutError, generation_failed_error

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

#: XCom keys, besides ``return_value`` (the asset URL).
XCOM_GENERATION_ID = "generation_id"
XCOM_GENERATION = "generation"


class GenerationState(str, enum.Enum):
    """States of a Luma generation."""

    QUEUED = "queued"
    DREAMING = "dreaming"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the generation will not change any more."""
        return self in (GenerationState.COMPLETED, GenerationState.FAILED)

    @classmethod
    def of(cls, generation: dict[str, Any]) -> GenerationState | None:
        """
        The state of a generation object, or None for a state this provider does not know.

        :param generation: a generation as Luma returns it.
        """
        try:
            return cls(generation.get("state"))
        except ValueError:
            return None


class EventStatus(str, enum.Enum):
    """The ``status`` of the one event a Luma trigger yields."""

    COMPLETED = "completed"  # carries "generation"
    FAILED = "failed"  # the generation failed; carries "generation"
    TIMEOUT = "timeout"  # the deadline passed first; carries "message"
    ERROR = "error"  # Luma could not be asked (bad key, deleted generation...); carries "message"


TERMINAL_STATES = (GenerationState.COMPLETED.value, GenerationState.FAILED.value)
#: Airflow's own deferral timeout is set this much past the trigger's deadline, so that the
#: trigger's clearer timeout event normally arrives first.
DEFERRAL_MARGIN = timedelta(seconds=60)


def resolve_deferrable(deferrable: bool | None) -> bool:
    """
    The ``deferrable`` argument, defaulting to Airflow's ``[operators] default_deferrable``.

    :param deferrable: what the user passed, or None.
    """
    if deferrable is not None:
        return deferrable
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def asset_url(generation: dict[str, Any]) -> str | None:
    """
    The URL of a generation's main asset: its image, else its video.

    :param generation: a generation as Luma returns it.
    """
    assets = generation.get("assets") or {}
    url = assets.get("image") or assets.get("video")
    return url if isinstance(url, str) else None


def generation_from_event(event: Any) -> dict[str, Any]:
    """
    The finished generation a trigger event carries; raise for timeouts, errors and bad events.

    :param event: the payload of a :class:`~airflow_provider_luma.triggers.luma.LumaGenerationTrigger`
        event, ``{status, generation_id, generation | message}``.
    """
    if not isinstance(event, dict) or "status" not in event:
        raise LumaError(f"Luma trigger sent no usable event: {event!r}")
    status = event["status"]
    if status in (EventStatus.COMPLETED, EventStatus.FAILED) and isinstance(event.get("generation"), dict):
        return event["generation"]
    if status == EventStatus.TIMEOUT:
        raise LumaTimeoutError(event.get("message") or "Luma generation timed out")
    if status == EventStatus.ERROR:
        raise LumaError(event.get("message") or "Luma trigger failed")
    raise LumaError(f"Luma trigger sent an unknown event: {event!r}")


def finish_generation(context: Context, generation: dict[str, Any], log: Logger) -> str:
    """
    Push the final generation to XCom; return its asset URL, or raise Luma's failure reason.

    :param context: the task context.
    :param generation: a generation in a terminal state.
    :param log: the task's logger.
    """
    generation_id = generation.get("id", "?")
    context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
    if generation.get("state") == "failed":
        raise generation_failed_error(generation_id, generation.get("failure_reason"))
    url = asset_url(generation)
    if not url:
        raise LumaError(f"Luma generation {generation_id} completed without an asset URL")
    log.info("Luma generation %s completed: %s", generation_id, url)
    return url
