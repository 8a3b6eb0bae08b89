"""
The submit-and-wait base every Luma generate operator shares, and the link to the generated asset.

Imported by every DAG file that uses the provider: nothing heavy at module level, the hook
(requests, tenacity) and the trigger load only when a task runs.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Asset, BaseOperator, BaseOperatorLink, XCom

from airflow_provider_luma.exceptions import LumaInsufficientCreditsError, LumaNotFoundError, LumaTimeoutError
from airflow_provider_luma.validation import check_positive_number
from airflow_provider_luma.waiting import (
    DEFERRAL_MARGIN,
    TERMINAL_STATES,
    XCOM_GENERATION,
    XCOM_GENERATION_ID,
    asset_url,
    finish_generation,
    generation_from_event,
    resolve_deferrable,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

    from airflow_provider_luma.hooks.luma import LumaHook

#: task_state_store key holding the id of the generation a task instance created, across retries.
STATE_STORE_GENERATION_ID = "luma_generation_id"
DEFAULT_TIMEOUT_SECONDS = 30 * 60


def _seconds(param: str, value: float | timedelta) -> float:
    return check_positive_number(param, value.total_seconds() if isinstance(value, timedelta) else value)


class LumaGenerationLink(BaseOperatorLink):
    """Link from a finished task to the asset it generated on Luma's CDN."""

    name = "Luma asset"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """
        The asset URL of the task's generation, or "" while there is none.

        :param operator: the task's operator.
        :param ti_key: the task instance.
        """
        generation = XCom.get_value(ti_key=ti_key, key=XCOM_GENERATION)
        return (asset_url(generation) or "") if isinstance(generation, dict) else ""


class LumaGenerationOperatorBase(BaseOperator):
    """
    Creates one Luma generation and waits for it: on the triggerer (deferrable) or in the worker.

    Subclasses say what to create (:meth:`build_request`, :meth:`submit`). XCom gets
    ``generation_id`` right after the create, ``generation`` (the final object) at the end, and
    ``return_value`` is the asset URL (or the generation id when ``wait_for_completion`` is False).

    :param luma_conn_id: Airflow connection with the Luma API key.
    :param wait_for_completion: wait until the generation is done (default); if False, return the
        generation id as soon as it is created.
    :param deferrable: wait on the triggerer, holding no worker slot. Defaults to Airflow's
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between two status checks.
    :param timeout: longest wait for the generation, in seconds or as a timedelta.
    :param reattach: on a retry of the same task instance, wait on the generation an earlier try
        created (if it is still running or completed) instead of paying for a new one. Needs
        Airflow's task state store (3.3+).
    :param delete_on_timeout: delete the generation when ``timeout`` passes (Luma has no cancel).
    :param cancel_on_kill: delete the generation when a user kills the task, in the worker or, on
        Airflow 3.3+, while it is deferred.
    :param output_path: copy the finished asset here (any ``ObjectStoragePath`` URL: ``file://``,
        ``s3://``, ``gs://``...; a value ending in "/" is a folder, and the file is named after the
        generation id). ``return_value`` is then the stored path. Luma's asset URLs can expire: this
        is how to keep what you paid for. Asset outlets of the task get the generation id, model,
        prompt and stored path in their event's extra (templated).
    :param min_credits: fail before creating anything when the account's balance (US cents) is
        below this.
    """

    operator_extra_links = (LumaGenerationLink(),)
    ui_color = "#f3e8ff"
    #: Dict and list fields show as JSON in the UI's "Rendered Template" view (names a subclass
    #: does not template are ignored by Airflow).
    template_fields_renderers = dict.fromkeys(
        ("image_ref", "style_ref", "character_ref", "modify_image_ref", "keyframes", "concepts", "geometry"),
        "json",
    )

    def __init__(
        self,
        *,
        luma_conn_id: str = "luma_default",
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        timeout: float | timedelta = DEFAULT_TIMEOUT_SECONDS,
        reattach: bool = True,
        delete_on_timeout: bool = False,
        cancel_on_kill: bool = False,
        output_path: str | None = None,
        min_credits: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.luma_conn_id = luma_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = resolve_deferrable(deferrable)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reattach = reattach
        self.delete_on_timeout = delete_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.output_path = output_path
        self.min_credits = min_credits
        self._generation_id: str | None = None  # for on_kill
        self._finished: tuple[dict[str, Any], str | None] | None = None  # generation, stored path

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        OpenLineage: the stored file out, the reference images in, the generation as a run facet.

        Called by the OpenLineage provider's listener; returns None when that provider is not
        installed. See :mod:`airflow_provider_luma.lineage`.

        :param task_instance: the finished task instance.
        """
        try:
            from airflow_provider_luma.lineage import generation_lineage
        except ImportError:
            return None
        generation, stored_path = self._finished or (None, None)
        return generation_lineage(generation, stored_path)

    # -- what to create: subclasses --------------------------------------------------------------

    def build_request(self) -> dict[str, Any]:
        """Validate the (rendered) parameters and return the request body; no API call here."""
        raise NotImplementedError

    def submit(self, hook: LumaHook, body: dict[str, Any]) -> dict[str, Any]:
        """
        Send the create request; return the new generation.

        :param hook: the hook to call.
        :param body: from :meth:`build_request`.
        """
        raise NotImplementedError

    # -- the flow ---------------------------------------------------------------------------------

    @property
    def hook(self) -> LumaHook:
        """A hook on ``luma_conn_id`` (new per call site; cheap)."""
        from airflow_provider_luma.hooks.luma import LumaHook

        return LumaHook(luma_conn_id=self.luma_conn_id)

    def execute(self, context: Context) -> Any:
        """Validate, create (or re-attach), then wait: defer, poll here, or return at once."""
        body = self.build_request()
        poll_interval = _seconds("poll_interval", self.poll_interval)
        timeout = _seconds("timeout", self.timeout)
        hook = self.hook
        generation = self._reattach(hook, context) or self._create(hook, body, context)
        generation_id = self._generation_id = generation["id"]
        context["ti"].xcom_push(key=XCOM_GENERATION_ID, value=generation_id)
        # The generation as created; replaced by the final one. Lets the extra link resolve early.
        context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
        if not self.wait_for_completion:
            return generation_id
        now = time.time()
        deadline = now + timeout
        # ``generation`` is fresh (the create's or the re-attach's answer): finished -> no deferral.
        if generation.get("state") in TERMINAL_STATES:
            return self._finish(context, generation)
        if self.deferrable:
            from airflow_provider_luma.triggers.luma import LumaGenerationTrigger

            self.defer(
                trigger=LumaGenerationTrigger(
                    generation_id=generation_id,
                    luma_conn_id=self.luma_conn_id,
                    poll_interval=poll_interval,
                    end_time=deadline,
                    delete_on_timeout=self.delete_on_timeout,
                    cancel_on_kill=self.cancel_on_kill,
                    first_poll_at=now + poll_interval,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=timeout) + DEFERRAL_MARGIN,
            )
        return self._finish(context, self._poll_in_worker(hook, generation_id, poll_interval, deadline))

    def _reattach(self, hook: LumaHook, context: Context) -> dict[str, Any] | None:
        """The generation an earlier try of this task instance created, if still worth waiting on."""
        store = context.get("task_state_store")
        if not self.reattach:
            return None
        if store is None:
            self.log.info(
                "This Airflow has no task state store (3.3+): a retry of this task cannot re-attach to "
                "the generation of an earlier try and will create a new one"
            )
            return None
        previous_id = store.get(STATE_STORE_GENERATION_ID)
        if not isinstance(previous_id, str):
            return None
        try:
            generation = hook.get_generation(previous_id)
        except LumaNotFoundError:
            self.log.info("Generation %s of an earlier try is gone; creating a new one", previous_id)
            return None
        if generation.get("state") == "failed":
            self.log.info("Generation %s of an earlier try failed; creating a new one", previous_id)
            return None
        self.log.info("Re-attaching to generation %s created by an earlier try", previous_id)
        return generation

    def _create(self, hook: LumaHook, body: dict[str, Any], context: Context) -> dict[str, Any]:
        if self.min_credits is not None:
            balance = hook.get_credits().get("credit_balance")
            if isinstance(balance, (int, float)) and balance < self.min_credits:
                raise LumaInsufficientCreditsError(
                    f"Luma credit balance is {balance} US cents, below min_credits={self.min_credits}: "
                    "top up the account (or lower min_credits) before generating"
                )
        generation = self.submit(hook, body)
        store = context.get("task_state_store")
        if store is not None:
            store.set(STATE_STORE_GENERATION_ID, generation["id"])
        return generation

    def _poll_in_worker(
        self, hook: LumaHook, generation_id: str, poll_interval: float, deadline: float
    ) -> dict[str, Any]:
        while True:
            generation = hook.get_generation(generation_id)
            if generation.get("state") in TERMINAL_STATES:
                return generation
            remaining = deadline - time.time()
            if remaining <= 0:
                message = f"Luma generation {generation_id} did not finish before the deadline"
                if self.delete_on_timeout:
                    hook.delete_generation(generation_id)
                    message += "; it was deleted"
                raise LumaTimeoutError(message)
            self.log.info("Generation %s is %s", generation_id, generation.get("state"))
            time.sleep(min(poll_interval, remaining))

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker: delete the generation if asked to."""
        if self.cancel_on_kill and self._generation_id:
            self.hook.delete_generation(self._generation_id)
            self.log.info("Deleted generation %s", self._generation_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """
        Resume after the trigger's event: finish, or fail with Luma's reason.

        :param context: the task context.
        :param event: the trigger's event, ``{status, generation_id, generation | message}``.
        """
        return self._finish(context, generation_from_event(event))

    def _finish(self, context: Context, generation: dict[str, Any]) -> Any:
        result = url = finish_generation(context, generation, self.log)
        extra = {
            "generation_id": generation.get("id"),
            "model": generation.get("model") or (generation.get("request") or {}).get("model"),
            "prompt": (generation.get("request") or {}).get("prompt"),
        }
        if self.output_path:
            from airflow_provider_luma.storage import copy_asset, destination_for

            destination = destination_for(self.output_path, url, str(generation.get("id")))
            size = copy_asset(url, destination)
            self.log.info("Stored %s (%d bytes) at %s", url, size, destination)
            result = extra["path"] = str(destination)
        for outlet in self.outlets or ():
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra.update(extra)
        self._finished = (generation, extra.get("path"))  # for get_openlineage_facets_on_complete
        return result
