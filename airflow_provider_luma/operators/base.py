"""
The base every Luma generate operator shares: validate, recall, create or adopt, wait, finish.

Where a task runs depends on the Airflow version and the task (the README's table says it all):

* On Airflow 3.3+, a deferrable task whose parameters the triggerer can render starts there
  (``start_from_trigger``, see :mod:`airflow_provider_luma.operators._start`):
  :class:`~airflow_provider_luma.triggers.luma.LumaGenerateTrigger` runs the generation flow there;
  a worker sees the task only for what needs one (the copy to ``output_path``, Asset events,
  OpenLineage, a failure's reason), through :meth:`execute_complete`.
* Everywhere else (Airflow before 3.3, mapped tasks, XComArg parameters, ``deferrable=False``) a
  worker runs :meth:`LumaGenerationOperatorBase.execute`, top-down: validate the rendered
  parameters (no API call); run the generation flow (:mod:`airflow_provider_luma.flow`: continue
  what the task instance's record says an earlier try paid for, or create, paid once); wait, on
  the triggerer (deferrable) or here; finish (XCom, the optional copy to storage, Asset event
  extras) and mark the record ended.

Imported by every DAG file that uses the provider: nothing heavy at module level, the hook
(requests, tenacity), the flow and the triggers load only when a task runs.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Asset, BaseOperator
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.exceptions import LumaTimeoutError
from airflow_provider_luma.generations import (
    DEFAULT_SETTLE_SECONDS,
    DEFERRAL_MARGIN,
    RATE_LIMIT_DEFAULT_PAUSE_SECONDS,
    TERMINAL_STATES,
    XCOM_COST,
    XCOM_GENERATION,
    XCOM_GENERATION_ID,
    GenerationState,
    failed_for_rate_limit,
    finish_generation,
    generation_from_event,
    rate_limit_pause,
    resolve_deferrable,
)
from airflow_provider_luma.kinds import build_request, operator_params
from airflow_provider_luma.links import LumaGenerationLink
from airflow_provider_luma.operators._start import (
    say_why_in_a_worker,
    start_trigger_args,
    why_not_on_the_triggerer,
)
from airflow_provider_luma.storage import DEFAULT_DEADLINE_SECONDS, DEFAULT_MAX_BYTES
from airflow_provider_luma.validation import check_max_cost, check_positive_int, check_positive_number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.kinds import GenerationRequest
    from airflow_provider_luma.runs import WorkerRun


DEFAULT_TIMEOUT_SECONDS = 30 * 60
#: A task that defers from a worker is never resumed sooner than this after its deferral. Airflow
#: 3.2 to 3.3.2 may read the deferring process's exit seconds late, and fails a try resumed before
#: that (apache/airflow#66374). Without this hold, 6 of 30 fast generations failed their task on an
#: idle machine (make e2e-deferral-race; the docs' "Where a task runs" page), none with it. It
#: lowers the odds and bounds nothing: a try failed that way anyway keeps its record, and its
#: retry takes up the generation it paid for (:func:`airflow_provider_luma.records.plan`).
DEFERRAL_HANDOFF_SECONDS = 10.0

__all__ = ["LumaGenerationLink", "LumaGenerationOperatorBase"]


class LumaGenerationOperatorBase(BaseOperator):
    """
    Creates one Luma generation and waits for it: on the triggerer (deferrable) or in the worker.

    Subclasses say what to create (their ``kind``, see :mod:`airflow_provider_luma.kinds`). XCom
    gets ``generation_id`` right after the create, ``generation`` (the final object) at the end,
    and ``return_value`` is the asset URL (or the stored path with ``output_path``, or the
    generation id when ``wait_for_completion`` is False).

    :param arguments: the subclass's own arguments by name (its ``locals()``): the parameters its
        kind declares are taken from them and set as attributes of the same names.
    :param luma_conn_id: Airflow connection with the Luma API key.
    :param wait_for_completion: wait until the generation is done (default); if False, return the
        generation id as soon as it is created.
    :param deferrable: wait on the triggerer, holding no worker slot; also wait out Luma's rate
        limit there instead of sleeping in the worker. Defaults to Airflow's
        ``[operators] default_deferrable``.
    :param start_from_trigger: on Airflow 3.3+, a deferrable task whose parameters hold no XComArg
        starts on the triggerer: it is validated, created, waited for and ended there, with no task
        process unless a worker has something to do (``output_path``, Asset outlets, OpenLineage,
        a failure). False always starts in a worker.
    :param poll_interval: seconds between two status checks.
    :param timeout: longest wait for the generation, in seconds or as a timedelta.
    :param reattach: a retry takes up what an earlier try of the task instance paid for, if the
        request is the same and the generation is still running or completed: after a crash, a
        failed copy, a kill, or Airflow failing a try that had finished. A clear after success
        makes a new one (the user asked again). Needs Airflow 3.3+. False always creates anew.
    :param reuse_on_clear: a clear after success reuses the generation an earlier try completed
        when the request is unchanged (clearing a whole run to redo a downstream step pays nothing
        again); default False: a clear makes a new one. Needs ``reattach`` (and Airflow 3.3+).
    :param settle_time: after a create whose answer was lost (a reset, a 5xx, a read timeout, a
        worker or triggerer dying meanwhile), how long Luma's list of generations is watched for
        what it made before concluding that it made nothing and creating again, in seconds or as a
        timedelta (default 60: Luma documents no bound on when a new generation is listed; a
        minute is ten times the longest delay seen, and costs time only on this rare path).
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
    :param max_cost: the most one create may cost, in US dollars: a create estimated above it, or
        with no known price, fails the task (final) before it is sent. Estimates come from Luma's
        published prices under the connection's extra ``prices``; a re-attach pays nothing new.
    :param max_run_cost: the most this task's DAG run may send to Luma, in US dollars, across every
        Luma task of the run that has it (give it in ``default_args`` for all), their retries
        included: a create that does not fit in what the run's tasks sent so far fails the task
        (final) before it is sent, naming what was sent and what it needed. Two tasks that start
        together cannot both spend the last dollar.
    :param max_asset_bytes: the largest asset ``output_path`` copies (default 2 GiB); a larger one
        fails the task (final) and nothing is left in ``output_path``.
    :param copy_timeout: the most the copy to ``output_path`` may take, in seconds or as a
        timedelta (default 30 minutes).
    """

    #: What the operator generates: a key of :data:`airflow_provider_luma.kinds.KINDS`.
    kind: str
    #: Seconds after a deferral from a worker before the trigger may resume the task
    #: (see :data:`DEFERRAL_HANDOFF_SECONDS`).
    deferral_handoff_seconds: float = DEFERRAL_HANDOFF_SECONDS
    operator_extra_links = (LumaGenerationLink(),)
    ui_color = "#f3e8ff"
    #: Dict and list fields show as JSON in the UI's "Rendered Template" view (names a subclass
    #: does not template are ignored by Airflow).
    template_fields_renderers = dict.fromkeys(
        ("image_ref", "style_ref", "character_ref", "modify_image_ref", "keyframes", "concepts"),
        "json",
    )

    def __init__(
        self,
        *,
        arguments: Mapping[str, Any] | None = None,
        luma_conn_id: str = "luma_default",
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        start_from_trigger: bool = True,
        poll_interval: float = 5.0,
        timeout: float | timedelta = DEFAULT_TIMEOUT_SECONDS,
        reattach: bool = True,
        reuse_on_clear: bool = False,
        settle_time: float | timedelta = DEFAULT_SETTLE_SECONDS,
        delete_on_timeout: bool = False,
        cancel_on_kill: bool = False,
        output_path: str | None = None,
        min_credits: int | None = None,
        max_cost: float | None = None,
        max_run_cost: float | None = None,
        max_asset_bytes: int = DEFAULT_MAX_BYTES,
        copy_timeout: float | timedelta = DEFAULT_DEADLINE_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # The subclass's signature is what users read; which of its arguments make the request,
        # and how, is declared once, in its kind.
        for name in operator_params(self.kind):
            setattr(self, name, (arguments or {}).get(name))
        self.luma_conn_id = luma_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = resolve_deferrable(deferrable)
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reattach = reattach
        self.reuse_on_clear = reuse_on_clear
        self.settle_time = settle_time
        self.delete_on_timeout = delete_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.output_path = output_path
        self.min_credits = min_credits
        self.max_cost = check_max_cost("max_cost", max_cost)
        self.max_run_cost = check_max_cost("max_run_cost", max_run_cost)
        # Checked here, not templated: a bad value fails the DAG's import, before anything is paid.
        self.max_asset_bytes = check_positive_int("max_asset_bytes", max_asset_bytes)
        self.copy_timeout = check_positive_number("copy_timeout", copy_timeout)
        self._generation_id: str | None = None  # for on_kill
        self._rate_limited_since: float | None = None
        self._started_at = 0.0
        self._finished: tuple[dict[str, Any], str | None] | None = None  # generation, stored path
        #: Why a deferrable task starts in a worker on Airflow 3.3+ (None: it starts on the triggerer).
        self._why_in_a_worker: str | None = "start_from_trigger is False"
        if start_from_trigger and AIRFLOW_V_3_3_PLUS and self.deferrable and self.wait_for_completion:
            values = [*self.request_params().values(), self.output_path]
            self._why_in_a_worker = why_not_on_the_triggerer(values, self.dag if self.has_dag() else None)
            if self._why_in_a_worker is None:
                self.start_from_trigger = True
                self.start_trigger_args = start_trigger_args(self)

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
        return generation_lineage(generation, stored_path, self._cost_of(generation) if generation else None)

    def _cost_of(self, generation: dict[str, Any]) -> float | None:
        """What ``generation`` cost, by the connection's prices: 0 once it failed (Luma refunds it)."""
        if generation.get("state") == GenerationState.FAILED:
            return 0.0
        return self.hook.credentials.prices.estimate_body(generation.get("request") or {}).usd

    def request_params(self) -> dict[str, Any]:
        """The kind's request parameters, by attribute name, as they are now (rendered in a task)."""
        return {name: getattr(self, name) for name in operator_params(self.kind)}

    def build_request(self) -> GenerationRequest:
        """Validate the (rendered) parameters and return the create call; no API call here."""
        return build_request(self.kind, self.request_params())

    @cached_property
    def hook(self) -> LumaHook:
        """The hook on ``luma_conn_id``, made once per operator (it looks the connection up when used)."""
        from airflow_provider_luma.hooks.luma import LumaHook

        return LumaHook(luma_conn_id=self.luma_conn_id)

    # -- where the task starts ------------------------------------------------------------------------

    # -- the flow in a worker -----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Validate, continue what the task instance paid for or create, then wait or return."""
        from airflow_provider_luma.adoption import Siblings
        from airflow_provider_luma.effects import drive
        from airflow_provider_luma.flow import Options, obtain, wait
        from airflow_provider_luma.records import Record, plan
        from airflow_provider_luma.run_budget import run_budget_of

        say_why_in_a_worker(self, context.get("ti"), self._why_in_a_worker)
        request = self.build_request()
        poll_interval = check_positive_number("poll_interval", self.poll_interval)
        timeout = check_positive_number("timeout", self.timeout)
        run = self._run(context)
        if self.reattach and run.store is None:
            self.log.info(
                "This Airflow has no task state store (3.3+): a retry of this task cannot re-attach to "
                "the generation of an earlier try and will create a new one"
            )
        todo = plan(
            run.recall(), request, run.attempt, reattach=self.reattach, reuse_on_clear=self.reuse_on_clear
        )
        earlier = todo.record.started_at if todo.takeover and todo.record else None
        self._started_at = self._rate_limited_since or earlier or time.time()
        deadline = self._started_at + timeout
        tasks = tuple(self.dag.task_ids) if self.has_dag() else ()
        options = Options(
            deadline,
            check_positive_number("settle_time", self.settle_time),
            self.min_credits,
            Siblings(tasks),
            run.hook.credentials.room,
            self.max_cost,
            run.hook.credentials.prices,
            run_budget_of(self.max_run_cost, run.attempt, tasks, run.hook.credentials.api_key),
        )
        record = Record.start(todo.request, run.attempt, self._started_at)
        generation = drive(obtain(todo, record, options, self.log), run.perform)
        generation_id = self._generation_id = generation["id"]
        context["ti"].xcom_push(key=XCOM_GENERATION_ID, value=generation_id)
        # Paid for (by this try or an earlier one): its estimate, even if the task fails later. No
        # XCom when no price is known (Airflow 3.0 refuses an XCom of None).
        cost = options.prices.estimate(todo.request).usd
        if cost is not None:
            context["ti"].xcom_push(key=XCOM_COST, value=cost)
        # The generation as created; replaced by the final one. Lets the extra link resolve early.
        context["ti"].xcom_push(key=XCOM_GENERATION, value=generation)
        if not self.wait_for_completion:
            run.end(started_on_triggerer=False)
            return generation_id
        # ``generation`` is fresh (the create's or the re-attach's answer): finished -> no deferral.
        if generation.get("state") in TERMINAL_STATES:
            return self._finish(context, generation)
        now = time.time()
        if self.deferrable:
            self._defer_wait(generation_id, poll_interval, now, deadline)
        outcome = drive(
            wait(
                generation_id,
                poll_interval,
                deadline,
                first_wait=min(poll_interval, max(0.0, deadline - now)),
                delete_on_timeout=self.delete_on_timeout,
                since=now,
                log=self.log,
            ),
            run.perform,
        )
        if outcome.generation is None:
            raise LumaTimeoutError(outcome.message or f"Luma generation {generation_id} timed out")
        if (
            failed_for_rate_limit(outcome.generation)
            and time.time() + RATE_LIMIT_DEFAULT_PAUSE_SECONDS < deadline
        ):
            pause = rate_limit_pause(None)
            self.log.info(
                "Luma failed generation %s for its rate limit: making it again in %.1f s",
                generation_id,
                pause,
            )
            time.sleep(pause)
            return self.execute(context)  # this try's record: the failed generation is made again
        return self._finish(context, outcome.generation)

    def _run(self, context: Context) -> WorkerRun:
        from airflow_provider_luma.runs import WorkerRun

        on_rate_limit = self._defer_until_rate_limit_passes if self.deferrable else None
        return WorkerRun(self.hook, context, self.log, on_rate_limit)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """
        Resume after a trigger's event: finish, or fail with Luma's reason.

        :param context: the task context.
        :param event: the trigger's event, ``{status, generation_id, generation | message}``.
        """
        started_on_triggerer = isinstance(event, dict) and bool(event.get("started_on_triggerer"))
        generation = generation_from_event(event)
        if failed_for_rate_limit(generation) and not started_on_triggerer:
            # Made again after a pause on the triggerer (before its deadline; else it fails).
            self.log.info("Luma failed generation %s for its rate limit", generation.get("id"))
            self._defer_until_rate_limit_passes(rate_limit_pause(None))
        return self._finish(context, generation, started_on_triggerer=started_on_triggerer)

    def execute_after_rate_limit(
        self, context: Context, rate_limited_since: float | None = None, event: Any = None
    ) -> Any:
        """
        Resume after waiting out Luma's rate limit on the triggerer: start over.

        :param context: the task context.
        :param rate_limited_since: epoch seconds the try started at (``timeout`` counts from there;
            ``dag.test()`` does not pass it back).
        :param event: the timer's event (unused).
        """
        self._rate_limited_since = rate_limited_since
        return self.execute(context)

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker: delete the generation if asked to."""
        if self.cancel_on_kill and self._generation_id:
            self.hook.delete_generation(self._generation_id)
            self.log.info("Deleted generation %s", self._generation_id)

    def _defer_until_rate_limit_passes(self, pause: float) -> None:
        pause = max(pause, self.deferral_handoff_seconds)
        self.log.info("Waiting out Luma's rate limit on the triggerer, holding no worker slot")
        self.defer(
            trigger=_timer(timedelta(seconds=pause)),
            method_name="execute_after_rate_limit",
            kwargs={"rate_limited_since": self._started_at},
        )

    def _defer_wait(self, generation_id: str, poll_interval: float, now: float, deadline: float) -> None:
        from airflow_provider_luma.triggers.luma import LumaGenerationTrigger

        self.defer(
            trigger=LumaGenerationTrigger(
                generation_id=generation_id,
                luma_conn_id=self.luma_conn_id,
                poll_interval=poll_interval,
                end_time=deadline,
                delete_on_timeout=self.delete_on_timeout,
                cancel_on_kill=self.cancel_on_kill,
                first_poll_at=now + poll_interval,  # it was just created or checked
                handoff_until=now + self.deferral_handoff_seconds,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=deadline - now) + DEFERRAL_MARGIN,
        )

    # -- finish -----------------------------------------------------------------------------------------

    def _finish(
        self, context: Context, generation: dict[str, Any], *, started_on_triggerer: bool = False
    ) -> Any:
        hook = self.hook  # the connection is looked up only if its origin is needed
        if generation.get("state") == GenerationState.FAILED:
            context["ti"].xcom_push(key=XCOM_COST, value=0.0)  # Luma refunds a failed generation
        result = finish_generation(context, generation, self.log, lambda: hook.credentials.base_url)
        request = generation.get("request") or {}
        extra = {
            "generation_id": generation.get("id"),
            "model": generation.get("model") or request.get("model"),
            "prompt": request.get("prompt"),
        }
        if self.outlets:  # what it cost, by the connection's prices
            extra["cost"] = self._cost_of(generation)
        if self.output_path:
            result = extra["path"] = hook.copy_generation_asset(
                generation,
                self.output_path,
                max_bytes=self.max_asset_bytes,
                deadline_seconds=self.copy_timeout,
            )
        for outlet in self.outlets or ():
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra.update(extra)
        self._run(context).end(started_on_triggerer=started_on_triggerer)
        self._finished = (generation, extra.get("path"))  # for get_openlineage_facets_on_complete
        return result


def _timer(delay: timedelta) -> Any:
    """Airflow's own trigger that fires after ``delay`` (standard provider, or Airflow 2's core)."""
    try:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
    except ImportError:  # Airflow 2 without the standard provider
        from airflow.triggers.temporal import TimeDeltaTrigger  # type: ignore[no-redef]
    return TimeDeltaTrigger(delay)
