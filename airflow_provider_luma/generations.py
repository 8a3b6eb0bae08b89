"""
A Luma generation, and everything about waiting on one.

Top down: a generation's state and its asset's URL (checked before use); how the operators and
the sensor wait (on the triggerer or in the worker) and a wait's time limits; the one event a Luma
trigger yields and what the resumed task makes of it; what a finished wait leaves in XCom, and the
error a failed generation raises.
"""

from __future__ import annotations

import enum
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_luma import asset_urls
from airflow_provider_luma.exceptions import (
    LumaError,
    LumaFinalError,
    LumaTimeoutError,
    LumaUnsafeAssetUrlError,
    generation_failed_error,
)
from airflow_provider_luma.redaction import redacted

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

# --- A generation: its state, and its asset's URL ---------------------------------------------


class GenerationState(str, enum.Enum):
    """States of a Luma generation."""

    QUEUED = "queued"
    DREAMING = "dreaming"
    PROCESSING = "processing"  # the Agents API's word for dreaming
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the generation will not change any more."""
        return self in (GenerationState.COMPLETED, GenerationState.FAILED)

    @classmethod
    def known(cls, generation: dict[str, Any]) -> GenerationState:
        """
        The state of a generation object; a state this provider does not know is an error.

        :param generation: a generation as Luma returns it.
        :raises LumaError: Luma reports a state outside queued, dreaming (processing), completed,
            failed.
        """
        try:
            return cls(generation.get("state"))
        except ValueError:
            raise LumaError(
                f"Luma reports generation {generation.get('id')} in state {generation.get('state')!r}, "
                "which this provider does not know"
            ) from None


#: The states a generation ends in, as the strings Luma sends.
TERMINAL_STATES = (GenerationState.COMPLETED.value, GenerationState.FAILED.value)


def asset_url(generation: dict[str, Any]) -> str | None:
    """
    The URL of a generation's main asset: its image, else its video (the Agents API: its first
    output).

    :param generation: a generation as Luma returns it.
    """
    output = generation.get("output")  # the Agents API's: a list of {type, url}
    if isinstance(output, list):
        first = output[0] if output and isinstance(output[0], dict) else {}
        url = first.get("url")
        return url if isinstance(url, str) else None
    assets = generation.get("assets")
    if not isinstance(assets, dict):  # None while dreaming; anything else in a planted XCom
        return None
    url = assets.get("image") or assets.get("video")
    return url if isinstance(url, str) else None


def output_urls(generation: dict[str, Any]) -> list[str]:
    """
    Every asset URL of a generation, in order: the Agents API's outputs (several for a
    ``layering``), or the Dream Machine API's one asset.

    :param generation: a generation as Luma returns it.
    """
    output = generation.get("output")
    if isinstance(output, list):
        return [item["url"] for item in output if isinstance(item, dict) and isinstance(item.get("url"), str)]
    url = asset_url(generation)
    return [url] if url else []


def returned_urls(generation: dict[str, Any], trusted_origin: str | None) -> str | list[str]:
    """
    What a task returns for a completed generation: its asset URL, or the list of them when it has
    several outputs; each checked as :func:`checked_asset_url` checks one.

    :param generation: a completed generation, as Luma returns it.
    :param trusted_origin: the connection's base URL, or None to allow ``https`` only.
    """
    first = checked_asset_url(generation, trusted_origin)
    urls = output_urls(generation)
    if len(urls) < 2:
        return first
    generation_id = str(generation.get("id", "?"))
    for url in urls[1:]:
        reason = asset_urls.shown_refusal(url, trusted_origin)
        if reason:
            raise LumaUnsafeAssetUrlError(generation_id, redacted(url), reason)
    return urls


def checked_asset_url(generation: dict[str, Any], trusted_origin: str | None) -> str:
    """
    The asset URL of a completed generation, once it is one that may be returned, pushed or linked.

    The one rule for every place that ends a wait (the worker's finish, the sensor, the trigger):
    the URL must be ``https``, or on the connection's own origin (scheme, host and port of its
    base URL: the emulator, a proxy in front of Luma). See
    :func:`airflow_provider_luma.asset_urls.shown_refusal`.

    :param generation: a completed generation, as Luma returns it.
    :param trusted_origin: the connection's base URL (``LumaCredentials.base_url``), or None to
        allow ``https`` only.
    :raises LumaUnsafeAssetUrlError: the URL is anything else (final; it names the URL, without
        credentials).
    :raises LumaError: the generation has no asset URL at all.
    """
    generation_id = str(generation.get("id", "?"))
    url = asset_url(generation)
    if not url:
        raise LumaError(f"Luma generation {generation_id} completed without an asset URL")
    reason = asset_urls.shown_refusal(url, trusted_origin)
    if reason:
        raise LumaUnsafeAssetUrlError(generation_id, redacted(url), reason)
    return url


# --- Waiting: where, and for how long ---------------------------------------------------------

#: Airflow's own deferral timeout is set this much past the trigger's deadline, so that the
#: trigger's clearer timeout event (and its ``delete_on_timeout``) arrives first.
DEFERRAL_MARGIN = timedelta(seconds=60)
#: A poll always gets this long, even at the deadline: a wait taken over late still asks once.
MIN_POLL_SECONDS = 5.0
#: How long the delete of ``delete_on_timeout`` and ``cancel_on_kill`` may take.
DELETE_SECONDS = 10.0
#: Default of the operators' ``settle_time``: how long Luma's list is watched for what a lost
#: create made, before concluding that it made nothing.
DEFAULT_SETTLE_SECONDS = 60.0


def resolve_deferrable(deferrable: bool | None) -> bool:
    """
    The ``deferrable`` argument, defaulting to Airflow's ``[operators] default_deferrable``.

    :param deferrable: what the user passed, or None.
    """
    if deferrable is not None:
        return deferrable
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


#: Added to Luma's Retry-After before a rate-limited create is sent again, so that the tasks
#: turned away together do not all come back at the same instant.
RATE_LIMIT_JITTER_SECONDS = 1.0
#: How long to wait after a 429 that gives no Retry-After.
RATE_LIMIT_DEFAULT_PAUSE_SECONDS = 5.0


def failed_for_rate_limit(generation: Any) -> bool:
    """
    Whether Luma failed a generation for its rate limit (the Agents API's ``rate_limited``): it was
    refunded, and the flow makes it again after a pause, as it waits out a 429.

    :param generation: a generation as Luma returns it (anything else is not one).
    """
    return (
        isinstance(generation, dict)
        and generation.get("state") == GenerationState.FAILED
        and generation.get("failure_code") == "rate_limited"
    )


def rate_limit_pause(retry_after: float | None) -> float:
    """
    Seconds to wait before creating again after Luma's 429: its Retry-After, plus jitter.

    :param retry_after: what Luma asked for, if it said.
    """
    pause = RATE_LIMIT_DEFAULT_PAUSE_SECONDS if retry_after is None else retry_after
    return pause + random.uniform(0, RATE_LIMIT_JITTER_SECONDS)


# --- The event a trigger yields, and what the resumed task makes of it ------------------------


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


# --- What a finished wait leaves in XCom ------------------------------------------------------

# XCom keys, besides Airflow's ``return_value`` (the asset URL, or the stored path).
#: XCom key of the generation's id.
XCOM_GENERATION_ID = "generation_id"
#: XCom key of the final generation, as Luma returned it.
XCOM_GENERATION = "generation"
#: XCom key of what the task's generation cost, in US dollars: its estimate once it is created
#: (none is pushed when no price is known), 0 once it failed (Luma refunds it).
XCOM_COST = "cost"


def finish_generation(
    context: Context, generation: dict[str, Any], log: Logger, connection_origin: Callable[[], str | None]
) -> str | list[str]:
    """
    Push the final generation to XCom; return its asset URL (the list of them when it has several
    outputs), or raise Luma's failure reason.

    A completed generation whose asset URL may not be used (see :func:`checked_asset_url`) raises
    before anything is pushed.

    :param context: the task context.
    :param generation: a generation in a terminal state.
    :param log: the task's logger.
    :param connection_origin: returns the connection's base URL, whose origin may serve assets over
        ``http``; called only for a URL that is not ``https`` (it looks the connection up).
    """
    generation_id = generation.get("id", "?")
    if generation.get("state") == "failed":
        context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
        raise generation_failed_error(
            generation_id, generation.get("failure_reason"), generation.get("failure_code")
        )
    urls = output_urls(generation)
    not_https = any(not url.startswith("https://") for url in urls)
    result = returned_urls(generation, connection_origin() if not_https else None)
    context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
    shown = redacted(result) if isinstance(result, str) else ", ".join(redacted(url) for url in result)
    log.info("Luma generation %s completed: %s", generation_id, shown)
    return result
