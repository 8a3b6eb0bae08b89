"""LumaGenerationSensor: waits for a generation that already exists."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_luma.generations import (
    DEFERRAL_MARGIN,
    TERMINAL_STATES,
    XCOM_GENERATION_ID,
    finish_generation,
    generation_from_event,
    resolve_deferrable,
)
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_luma.hooks.luma import LumaHook


class LumaGenerationSensor(BaseSensorOperator):
    """
    Waits until a Luma generation (made by another task, system or callback) is completed.

    ``return_value`` is the asset URL; XCom also gets ``generation_id`` and ``generation``. A failed
    generation fails the task with Luma's ``failure_reason``.

    :param generation_id: the generation to wait for, a UUID (templated).
    :param luma_conn_id: Airflow connection with the Luma API key.
    :param deferrable: wait on the triggerer, holding no worker slot. Defaults to Airflow's
        ``[operators] default_deferrable``. ``poke_interval`` is the poll interval on both paths and
        ``timeout`` bounds the whole wait.
    :param kwargs: BaseSensorOperator's arguments (``poke_interval``, ``timeout``, ``mode``...).
    """

    template_fields: Sequence[str] = ("generation_id",)
    ui_color = "#f3e8ff"

    def __init__(
        self,
        *,
        generation_id: str,
        luma_conn_id: str = "luma_default",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.generation_id = generation_id
        self.luma_conn_id = luma_conn_id
        self.deferrable = resolve_deferrable(deferrable)

    @cached_property
    def hook(self) -> LumaHook:
        """A hook on ``luma_conn_id``, kept for the task's lifetime (pokes share its connections)."""
        from airflow_provider_luma.hooks.luma import LumaHook

        return LumaHook(luma_conn_id=self.luma_conn_id)

    def _fetch(self, context: Context) -> dict[str, Any]:
        generation_id = check_generation_id(self.generation_id)
        context["ti"].xcom_push(key=XCOM_GENERATION_ID, value=generation_id)
        return self.hook.get_generation(generation_id)

    def _finish(self, context: Context, generation: dict[str, Any]) -> str | list[str]:
        """The asset URL (or URLs; checked against the connection's origin), or Luma's failure raised."""
        return finish_generation(context, generation, self.log, lambda: self.hook.credentials.base_url)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """
        One status check; done (with the asset URL) once the generation is completed.

        :param context: the task context.
        """
        generation = self._fetch(context)
        if generation.get("state") not in TERMINAL_STATES:
            self.log.info("Generation %s is %s", generation.get("id"), generation.get("state"))
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, generation))

    def execute(self, context: Context) -> Any:
        """Check once; then wait on the triggerer (deferrable) or poke here."""
        if not self.deferrable:
            return super().execute(context)
        generation = self._fetch(context)
        if generation.get("state") in TERMINAL_STATES:
            return self._finish(context, generation)
        from airflow_provider_luma.triggers.luma import LumaGenerationTrigger

        timeout = float(self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else self.timeout)
        poll_interval, now = float(self.poke_interval), time.time()
        self.defer(
            trigger=LumaGenerationTrigger(
                generation_id=generation["id"],
                luma_conn_id=self.luma_conn_id,
                poll_interval=poll_interval,
                end_time=now + timeout,
                first_poll_at=now + poll_interval,  # it was just checked
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout) + DEFERRAL_MARGIN,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str | list[str]:
        """
        Resume after the trigger's event: return the asset URL, or fail with Luma's reason.

        :param context: the task context.
        :param event: the trigger's event.
        """
        return self._finish(context, generation_from_event(event))
