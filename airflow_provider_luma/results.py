"""What a finished wait leaves in XCom, and the error a failed generation raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import generation_failed_error
from airflow_provider_luma.generations import asset_url, checked_asset_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

#: XCom keys, besides Airflow's ``return_value`` (the asset URL, or the stored path).
XCOM_GENERATION_ID = "generation_id"
XCOM_GENERATION = "generation"


def finish_generation(
    context: Context, generation: dict[str, Any], log: Logger, connection_origin: Callable[[], str | None]
) -> str:
    """
    Push the final generation to XCom; return its asset URL, or raise Luma's failure reason.

    A completed generation whose asset URL may not be used (see
    :func:`~airflow_provider_luma.generations.checked_asset_url`) raises before anything is pushed.

    :param context: the task context.
    :param generation: a generation in a terminal state.
    :param log: the task's logger.
    :param connection_origin: returns the connection's base URL, whose origin may serve assets over
        ``http``; called only for a URL that is not ``https`` (it looks the connection up).
    """
    generation_id = generation.get("id", "?")
    if generation.get("state") == "failed":
        context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
        raise generation_failed_error(generation_id, generation.get("failure_reason"))
    url = asset_url(generation)
    trusted_origin = connection_origin() if url and not url.startswith("https://") else None
    url = checked_asset_url(generation, trusted_origin)
    context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
    log.info("Luma generation %s completed: %s", generation_id, url)
    return url
