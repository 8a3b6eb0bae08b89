"""
Batch operators: many images or videos in one task, each paid once, under a cap on what is in flight.

Where a batch runs:

* On Airflow 3.3+, a deferrable batch whose ``requests`` and defaults the triggerer can render
  starts there, runs every item there and ends there
  (:class:`~airflow_provider_luma.triggers.batch.LumaBatchTrigger`): one trigger, no task process,
  unless a worker has something to do (``output_path``, Asset outlets, OpenLineage, a failure).
* On Airflow 3.3+, a deferrable batch whose ``requests`` come from an XComArg or a TaskFlow function
  starts in a worker, which validates them and defers once, with the rendered ``requests``; it
  resumes there once, with every item's result.
* Otherwise (Airflow before 3.3, or ``deferrable=False``) the worker runs the batch itself, on its
  own event loop. Before 3.3 a trigger cannot keep the items' records, so a batch deferred there
  would pay again for every item in flight when its triggerer restarts; in the worker a crash ends
  the try, and its retry starts afresh, as a single task's does before 3.3.

Imported by every DAG file that uses the provider: nothing heavy at module level.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Asset, BaseOperator
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.batches import (
    XCOM_BATCH,
    build_batch,
    check_allowed_failures,
    check_failures,
    check_within_tier,
    failures_allowed,
    keeps_items_in_xcom,
    manifest,
    summary,
)
from airflow_provider_luma.generations import DEFAULT_SETTLE_SECONDS, XCOM_COST, resolve_deferrable
from airflow_provider_luma.kinds import operator_params, operator_template_fields
from airflow_provider_luma.operators._batch_worker import copy_all, hand_records, keep_manifest, run_in_worker
from airflow_provider_luma.operators._start import why_not_on_the_triggerer
from airflow_provider_luma.operators.base import DEFAULT_TIMEOUT_SECONDS, DEFERRAL_HANDOFF_SECONDS
from airflow_provider_luma.storage import DEFAULT_DEADLINE_SECONDS, DEFAULT_MAX_BYTES
from airflow_provider_luma.validation import check_max_cost, check_positive_int, check_positive_number

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_luma.batch_flow import BatchOptions
    from airflow_provider_luma.batches import ItemResult
    from airflow_provider_luma.hooks.luma import LumaHook

#: Copies to ``output_path`` a batch runs at once by default.
DEFAULT_PARALLEL_COPIES = 8


class LumaBatchOperatorBase(BaseOperator):
    """
    Generates every item of ``requests`` in one task; ``return_value`` lists their asset URLs (or
    stored paths), in the order of ``requests``, None for an item that failed.

    A ``batch`` XCom holds the manifest: ``total``, ``succeeded``, ``failed``, and per item its
    ``index``, ``generation_id``, ``state``, ``url``, ``path`` and ``failure`` (a batch of more than
    1,000 items with an ``output_path`` keeps those in a JSON file there, named by ``items_path``).
    Each item is paid
    once, as a single task's generation is: a create in doubt is looked for, never re-sent blindly;
    a retry takes up what earlier tries made and creates only the items that did not complete; a
    clear after success makes every item anew.

    :param requests: the items, a list (templated, or an XComArg): each a prompt, or a dict of the
        single operator's parameters, merged over this operator's own parameters (the defaults).
    :param arguments: the subclass's own arguments by name (its ``locals()``): the defaults.
    :param luma_conn_id: Airflow connection with the Luma API key.
    :param deferrable: run on the triggerer, holding no worker slot (Airflow 3.3+; before that the
        batch runs in the worker). Defaults to Airflow's ``[operators] default_deferrable``.
    :param start_from_trigger: on Airflow 3.3+, a deferrable batch whose parameters hold no XComArg
        starts on the triggerer. False always starts in a worker.
    :param max_in_flight: the most generations of this batch in flight at once; by default, and at
        most, what Luma's Build tier allows a key (40 images, 10 videos).
    :param creates_per_minute: the most creates this batch sends in a minute; by default, and at
        most, the tier's (80 images, 20 videos), so that the batch does not lean on 429 answers.
    :param allowed_failures: how many items may fail while the task succeeds: a count, or a fraction
        of the items (0.1: a tenth, rounded down). Beyond it the task fails, once every item has
        ended, naming the failed items and their reasons. Default 0.
    :param poll_interval: seconds between two polls of one generation.
    :param timeout: the longest one item may take, from its first call, in seconds or as a
        timedelta.
    :param reattach: a retry takes up what earlier tries of the task instance made (Airflow 3.3+).
        False always creates every item anew.
    :param reuse_on_clear: a clear after success reuses each item's completed generation when its
        request is unchanged; default False: a clear makes every item anew.
    :param settle_time: how long Luma's list is watched for what a lost create made, in seconds or
        as a timedelta (see the single operators').
    :param delete_on_timeout: delete an item's generation when its ``timeout`` passes.
    :param output_path: a folder (any ``ObjectStoragePath`` URL) each completed item is copied to,
        named after its generation id (templated). ``return_value`` then lists the stored paths.
    :param min_credits: fail an item before its create when the account's balance (US cents) is
        below this.
    :param max_cost: the most one item's create may cost, in US dollars: when an item that would
        create is estimated above it (or has no known price), the batch fails (final) before any
        create. Estimates: Luma's published prices under the connection's extra ``prices``.
    :param max_run_cost: the most this task's DAG run may send to Luma, in US dollars, across every
        Luma task of the run that has it, retries included (see the single operators'). The batch
        claims the estimates of all the creates it is about to send at once, before the first: when
        they do not fit, it fails (final) and creates nothing.
    :param max_asset_bytes: the largest asset ``output_path`` copies (default 2 GiB).
    :param copy_timeout: the most one copy may take, in seconds or as a timedelta (default 30 min).
    :param max_parallel_copies: copies to ``output_path`` run at once, in the worker (default 8).
    """

    #: What each item generates: a key of :data:`airflow_provider_luma.kinds.KINDS`.
    kind: str
    ui_color = "#ede9fe"
    template_fields_renderers = {"requests": "json"}

    def __init__(
        self,
        *,
        requests: Any,
        arguments: Mapping[str, Any] | None = None,
        luma_conn_id: str = "luma_default",
        deferrable: bool | None = None,
        start_from_trigger: bool = True,
        max_in_flight: int | None = None,
        creates_per_minute: int | None = None,
        allowed_failures: int | float = 0,
        poll_interval: float = 5.0,
        timeout: float | timedelta = DEFAULT_TIMEOUT_SECONDS,
        reattach: bool = True,
        reuse_on_clear: bool = False,
        settle_time: float | timedelta = DEFAULT_SETTLE_SECONDS,
        delete_on_timeout: bool = False,
        output_path: str | None = None,
        min_credits: int | None = None,
        max_cost: float | None = None,
        max_run_cost: float | None = None,
        max_asset_bytes: int = DEFAULT_MAX_BYTES,
        copy_timeout: float | timedelta = DEFAULT_DEADLINE_SECONDS,
        max_parallel_copies: int = DEFAULT_PARALLEL_COPIES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name in operator_params(self.kind):
            setattr(self, name, (arguments or {}).get(name))
        self.requests = requests
        self.luma_conn_id = luma_conn_id
        self.deferrable = resolve_deferrable(deferrable)
        # Checked here, not templated: a bad value fails the DAG's import, before anything is paid.
        self.max_in_flight = check_within_tier("max_in_flight", self.kind, max_in_flight)
        self.creates_per_minute = check_within_tier("creates_per_minute", self.kind, creates_per_minute)
        self.allowed_failures = check_allowed_failures(allowed_failures)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reattach = reattach
        self.reuse_on_clear = reuse_on_clear
        self.settle_time = settle_time
        self.delete_on_timeout = delete_on_timeout
        self.output_path = output_path
        self.min_credits = min_credits
        self.max_cost = check_max_cost("max_cost", max_cost)
        self.max_run_cost = check_max_cost("max_run_cost", max_run_cost)
        self.max_asset_bytes = check_positive_int("max_asset_bytes", max_asset_bytes)
        self.copy_timeout = check_positive_number("copy_timeout", copy_timeout)
        self.max_parallel_copies = check_positive_int("max_parallel_copies", max_parallel_copies)
        #: Why a deferrable batch starts in a worker on Airflow 3.3+ (None: on the triggerer).
        self._why_in_a_worker: str | None = "start_from_trigger is False"
        if start_from_trigger and AIRFLOW_V_3_3_PLUS and self.deferrable:
            values = [self.requests, *self.defaults().values(), self.output_path]
            self._why_in_a_worker = why_not_on_the_triggerer(values, self.dag if self.has_dag() else None)
            if self._why_in_a_worker is None:
                self.start_from_trigger = True
                self.start_trigger_args = self._start_trigger_args()

    def defaults(self) -> dict[str, Any]:
        """Every item's default parameters, by attribute name, as they are now (rendered in a task)."""
        return {name: getattr(self, name) for name in operator_params(self.kind)}

    @cached_property
    def hook(self) -> LumaHook:
        """The hook on ``luma_conn_id``."""
        from airflow_provider_luma.hooks.luma import LumaHook

        return LumaHook(luma_conn_id=self.luma_conn_id)

    # -- where the batch runs ---------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Validate every item, then defer once to run them on the triggerer, or run them here."""
        if AIRFLOW_V_3_3_PLUS and self.deferrable:
            self.log.info(
                "Starting in a worker, not on the triggerer: %s",
                self._why_in_a_worker
                or "Airflow started it here (dag.test() and `airflow tasks test` start every task so)",
            )
        requests = build_batch(self.kind, self.requests, self.defaults())
        options = self._options()
        if AIRFLOW_V_3_3_PLUS and self.deferrable:
            hand_records(context, len(requests), to_trigger=True)
            self.defer(
                trigger=self._trigger(handoff_until=time.time() + DEFERRAL_HANDOFF_SECONDS),
                method_name="execute_complete",
            )
        import asyncio

        siblings = tuple(self.dag.task_ids) if self.has_dag() else ()
        results = asyncio.run(run_in_worker(self.hook, context, requests, options, siblings, self.log))
        return self._finish(context, results)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """
        Resume with every item's result: copy, report, and succeed or fail.

        :param context: the task context.
        :param event: the trigger's event, ``{status, items | message}``.
        """
        from airflow_provider_luma.batches import ItemResult

        items = event.get("items") if isinstance(event, dict) else None
        if not (isinstance(event, dict) and event.get("started_on_triggerer")):  # deferred from here
            count = len(items) if isinstance(items, list) else len(self.requests or ())
            hand_records(context, count, to_trigger=False)
        if not isinstance(items, list):
            from airflow_provider_luma.generations import generation_from_event

            generation_from_event(event)  # raises the trigger's error
            raise ValueError(f"The Luma batch trigger sent no results: {event!r}")
        return self._finish(context, [ItemResult.from_dict(item) for item in items])

    def _options(self) -> BatchOptions:
        from airflow_provider_luma.batch_flow import BatchOptions

        return BatchOptions.of(self.kind, self)

    def _trigger_kwargs(self) -> dict[str, Any]:
        """The trigger's kwargs: the parameters as they are now, durations in seconds, never the key."""

        def seconds(value: Any) -> Any:
            return value.total_seconds() if isinstance(value, timedelta) else value

        return {
            "kind": self.kind,
            "luma_conn_id": self.luma_conn_id,
            "requests": self.requests,
            "max_in_flight": self.max_in_flight,
            "creates_per_minute": self.creates_per_minute,
            "allowed_failures": self.allowed_failures,
            "poll_interval": self.poll_interval,
            "timeout": seconds(self.timeout),
            "reattach": self.reattach,
            "reuse_on_clear": self.reuse_on_clear,
            "settle_time": seconds(self.settle_time),
            "delete_on_timeout": self.delete_on_timeout,
            "min_credits": self.min_credits,
            "max_cost": self.max_cost,
            "max_run_cost": self.max_run_cost,
            "output_path": None if self.output_path is None else str(self.output_path),
            **self.defaults(),
        }

    def _trigger(self, handoff_until: float) -> Any:
        from airflow_provider_luma.triggers.batch import LumaBatchTrigger

        return LumaBatchTrigger(**self._trigger_kwargs(), handoff_until=handoff_until)

    def _start_trigger_args(self) -> Any:
        from airflow.triggers.base import StartTriggerArgs

        return StartTriggerArgs(
            trigger_cls="airflow_provider_luma.triggers.batch.LumaBatchTrigger",
            trigger_kwargs={**self._trigger_kwargs(), "started_on_triggerer": True},
            next_method="execute_complete",
            next_kwargs=None,
            timeout=None,
        )

    # -- finish -----------------------------------------------------------------------------------

    def _finish(self, context: Context, results: list[ItemResult]) -> list[str | list[str] | None]:
        if self.output_path:
            results = copy_all(
                self.hook,
                results,
                str(self.output_path),
                max_bytes=self.max_asset_bytes,
                deadline_seconds=self.copy_timeout,
                parallel=self.max_parallel_copies,
                log=self.log,
            )
        batch = manifest(results)
        if self.output_path and not keeps_items_in_xcom(len(results)):
            where = keep_manifest(batch, str(self.output_path), context["ti"])
            self.log.info("The manifest of the batch's %d items is kept in %s", len(results), where)
            batch = summary(batch, where)
        context["ti"].xcom_push(key=XCOM_BATCH, value=batch)
        if batch["cost"] is not None:  # no XCom when an item has no known price (3.0 refuses None)
            context["ti"].xcom_push(key=XCOM_COST, value=batch["cost"])
        done = [result for result in results if result.succeeded]
        extra: dict[str, Any] = {"generation_ids": [result.generation_id for result in done]}
        if self.output_path:
            extra["paths"] = [result.path for result in done]
        for outlet in self.outlets or ():
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra.update(extra)
        check_failures(results, failures_allowed(self.allowed_failures, len(results)))
        return [result.value for result in results]


class LumaImageBatchOperator(LumaBatchOperatorBase):
    """
    Generates many images in one task with Luma's Photon models; ``return_value`` lists their URLs.

    :param requests: the images: each a prompt, or a dict of
        :class:`~airflow_provider_luma.operators.luma.LumaImageGenerateOperator` parameters
        (``prompt``, ``model``, ``aspect_ratio``...), merged over the defaults below (templated).
    :param prompt: the default prompt (templated).
    :param model: the default model, ``photon-1`` or ``photon-flash-1`` (templated).
    :param aspect_ratio: the default aspect ratio (templated).
    :param format: the default format, ``jpg`` or ``png`` (templated).
    :param image_ref: default reference images (templated).
    :param style_ref: default style references (templated).
    :param character_ref: default character reference (templated).
    :param modify_image_ref: default image to modify (templated).
    :param callback_url: default callback URL (templated).
    :param kwargs: the batch options of :class:`LumaBatchOperatorBase` and BaseOperator's.
    """

    kind = "image"
    template_fields: Sequence[str] = ("requests", *operator_template_fields("image"), "output_path")

    def __init__(
        self,
        *,
        requests: Any,
        prompt: str | None = None,
        model: str = "photon-1",
        aspect_ratio: str | None = None,
        format: str | None = None,
        image_ref: list[Any] | None = None,
        style_ref: list[Any] | None = None,
        character_ref: dict[str, Any] | list[str] | None = None,
        modify_image_ref: dict[str, Any] | str | None = None,
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(requests=requests, arguments=locals(), **kwargs)


class LumaVideoBatchOperator(LumaBatchOperatorBase):
    """
    Generates many videos in one task with Luma's Ray models; ``return_value`` lists their URLs.

    :param requests: the videos: each a prompt, or a dict of
        :class:`~airflow_provider_luma.operators.luma.LumaVideoGenerateOperator` parameters, merged
        over the defaults below (templated).
    :param prompt: the default prompt (templated).
    :param model: the default model, ``ray-2`` or ``ray-flash-2`` (templated).
    :param aspect_ratio: the default aspect ratio (templated).
    :param resolution: the default resolution (templated).
    :param duration: the default duration (templated).
    :param loop: make the videos loop.
    :param keyframes: default keyframes (templated).
    :param concepts: default concepts (templated).
    :param callback_url: default callback URL (templated).
    :param kwargs: the batch options of :class:`LumaBatchOperatorBase` and BaseOperator's.
    """

    kind = "video"
    template_fields: Sequence[str] = ("requests", *operator_template_fields("video"), "output_path")

    def __init__(
        self,
        *,
        requests: Any,
        prompt: str | None = None,
        model: str = "ray-2",
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        duration: str | None = None,
        loop: bool | None = None,
        keyframes: dict[str, Any] | None = None,
        concepts: list[Any] | None = None,
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(requests=requests, arguments=locals(), **kwargs)


__all__ = ["LumaBatchOperatorBase", "LumaImageBatchOperator", "LumaVideoBatchOperator"]
