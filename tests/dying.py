"""How the test DAGs make a worker's try die at a chosen point of the generation flow."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import requests

from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

RETRY_ONCE: dict[str, Any] = {
    "retries": 1,
    "retry_delay": timedelta(0),
    "poll_interval": 0.1,
    "timeout": 30,
    "settle_time": 0.5,
}


def after_create(run: Any, then: Any) -> Any:
    """
    ``run`` (a try's :class:`~airflow_provider_luma.runs.WorkerRun`) calls ``then(generation_id)``
    once the try has recorded the generation it created: where a worker that dies is killed.
    """
    from airflow_provider_luma.effects import Remember

    perform = run.perform

    def perform_then(effect: Any) -> Any:
        answer = perform(effect)
        if isinstance(effect, Remember) and effect.record.generation_id:
            then(effect.record.generation_id)
        return answer

    run.perform = perform_then
    return run


def crash(generation_id: str) -> None:
    raise RuntimeError(f"simulated worker crash after creating {generation_id}")


class FirstTryDiesOperator(LumaImageGenerateOperator):
    """
    Its first try creates, leaves the generation as ``leaves`` says, then dies before waiting.

    :param first_try_leaves: ``running`` (untouched), ``failed`` (the emulator fails it), ``gone``
        (deleted through the API), or ``gone_while_deferred`` (deleted, and the try goes on to wait).
    """

    def __init__(self, *, first_try_leaves: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_try_leaves = first_try_leaves

    def _run(self, context: Any) -> Any:
        run = super()._run(context)
        return after_create(run, self._leave) if context["ti"].try_number == 1 else run

    def _leave(self, generation_id: str) -> None:
        emulator_root = self.hook.credentials.base_url.removesuffix("/dream-machine/v1")
        if self.first_try_leaves == "failed":
            requests.post(
                f"{emulator_root}/_emulator/generations/{generation_id}/fail",
                headers={"X-Luma-Emulator-Token": os.environ["LUMA_EMULATOR_CONTROL_TOKEN"]},
                timeout=5,
            ).raise_for_status()
        elif self.first_try_leaves.startswith("gone"):
            self.hook.delete_generation(generation_id)
        if self.first_try_leaves != "gone_while_deferred":  # that one waits on, and finds it gone
            crash(generation_id)
