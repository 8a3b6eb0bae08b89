"""What a finished wait leaves in XCom, and the error a failed generation raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import LumaError, generation_failed_error
from airflow_provider_luma.generations import asset_url

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

#: XCom keys, besides Airflow's ``return_value`` (the asset URL, or the stored path).
XCOM_GENERATION_ID = "generation_id"
XCOM_GENERATION = "generation"


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
