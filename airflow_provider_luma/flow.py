"""
The one generation flow: recall, create or adopt, wait. Written once, without I/O.

Each step is a generator. It yields the effects it needs (:class:`Call` Luma, :class:`Sleep`,
:class:`Remember` the record, read the :class:`XComValues` of the run's tasks) and is sent their
results; the failure of an effect is thrown into it. A driver performs the effects: the worker's
is synchronous (:func:`drive`), the triggerer's asynchronous (:func:`adrive`), and one event loop
can drive many flows at once. So every decision (what a record means, when a lost create is looked
for and for how long, when a wait ends) is made here, the same wherever the task runs.

Top down: :func:`obtain` the generation a try waits on (the record's, the one a lost create made,
or a new one, see :mod:`airflow_provider_luma.adoption`), then :func:`wait` for it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma import metrics
from airflow_provider_luma.adoption import SEARCHING_FOR_LOST_CREATE, Siblings, find_lost_create
from airflow_provider_luma.agents import AGENTS, UPLOAD
from airflow_provider_luma.effects import Call, Remember, Sleep, Turn, Upload
from airflow_provider_luma.exceptions import (
    LumaAmbiguousCreateError,
    LumaDeadlineError,
    LumaError,
    LumaInsufficientCreditsError,
    LumaNotFoundError,
    LumaRetryableError,
    LumaTimeoutError,
    LumaTransportError,
    LumaUnverifiableCreateError,
    LumaValidationError,
)
from airflow_provider_luma.generations import (
    DEFAULT_SETTLE_SECONDS,
    DELETE_SECONDS,
    MIN_POLL_SECONDS,
    EventStatus,
    GenerationState,
    failed_for_rate_limit,
    rate_limit_pause,
)
from airflow_provider_luma.key_limits import family_of_path, wait_for_room
from airflow_provider_luma.pricing import Estimate, PriceTable
from airflow_provider_luma.records import Step
from airflow_provider_luma.redaction import redacted, redacted_values
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_luma.effects import Flow
    from airflow_provider_luma.key_limits import KeyRoom
    from airflow_provider_luma.kinds import GenerationRequest
    from airflow_provider_luma.records import Plan, Record
    from airflow_provider_luma.run_budget import RunBudget

#: The longest a create may take (a 5 s connect and a 60 s read, and the retries of a connection
#: that never opened, cut to fit): a create sent at ``t`` made its generation, if any, by ``t`` plus
#: this. The window a lost create is looked for in, when its loss was not seen (its process died).
CREATE_CALL_SECONDS = 75.0
#: Creates in doubt one call sends at most before it gives up (each looked for first).
MAX_CREATES_IN_DOUBT = 3


# -- obtain: the generation a try waits on ----------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """
    How a try runs its flow.

    :param deadline: epoch seconds the generation must be done by.
    :param settle_time: seconds Luma's list is watched for what a lost create made.
    :param min_credits: the lowest balance (US cents) a create is sent at; None: not checked.
    :param siblings: whose generations are not ours.
    :param room: the key's room in this process, whose limits a create waits for (None: not kept).
    :param max_cost: the most a create may be estimated at, in US dollars (None: no cap).
    :param prices: what creates are estimated by (the connection's ``prices`` over Luma's).
    :param run_budget: the task instance's share of its DAG run's ``max_run_cost`` (None: none).
    """

    deadline: float
    settle_time: float = DEFAULT_SETTLE_SECONDS
    min_credits: int | None = None
    siblings: Siblings = field(default_factory=lambda: Siblings())
    room: KeyRoom | None = None
    max_cost: float | None = None
    prices: PriceTable = field(default_factory=lambda: PriceTable())
    run_budget: RunBudget | None = None


def obtain(plan: Plan, record: Record, options: Options, log: Logger) -> Flow:
    """
    The generation this try waits on: the one its record continues, the one a lost create of that
    record made, or a new one.

    :param plan: what the record says to do (:func:`~airflow_provider_luma.records.plan`).
    :param record: this try's fresh record, for the request of the plan.
    :param options: the try's options.
    :param log: the task's logger.
    """
    if plan.note:
        log.info("%s: creating a new one", plan.note)
    if options.run_budget is not None:
        yield from options.run_budget.start(log)
    earlier = plan.record
    if plan.step in (Step.REATTACH, Step.FINISHED) and earlier is not None and earlier.generation_id:
        generation = yield from _reattach(earlier.generation_id, plan, options, log)
        if generation is not None:
            made = record.made(generation["id"])
            if made != earlier:  # a takeover's record already says so: nothing to write
                yield Remember(made)
            return generation
    elif plan.step is Step.SEARCH and earlier is not None and earlier.sent_at is not None:
        if plan.request.api == AGENTS:
            raise unverifiable_create_error(plan.request, earlier.sent_at, "an earlier try")
        log.warning(SEARCHING_FOR_LOST_CREATE)
        until = earlier.until or earlier.sent_at + CREATE_CALL_SECONDS
        found = yield from find_lost_create(
            plan.request, earlier.sent_at, until, until + options.settle_time, options.siblings, log
        )
        if found is not None:
            log.info("Adopting generation %s, made by that create", found["id"])
            metrics.created(plan.request.body.get("model"), options.prices.estimate(plan.request).usd)
            yield Remember(record.made(found["id"]))
            return found
        log.info("Luma lists no generation made by it: creating one")
    return (yield from create(plan.request, record, options, log))


def _reattach(generation_id: str, plan: Plan, options: Options, log: Logger) -> Flow:
    """The record's generation if it can serve this try, else None (a new one is created)."""
    takeover = plan.takeover
    whose = "this try" if takeover else "an earlier try"
    try:
        generation = yield _get(generation_id, options.deadline)
    except LumaNotFoundError:
        if takeover:  # what this try paid for is gone: its wait ends as any wait would
            raise
        log.info("Generation %s of %s is gone; creating a new one", generation_id, whose)
        return None
    state = generation.get("state")
    # A generation Luma failed for its rate limit is made again, by this very try too, in time.
    again = failed_for_rate_limit(generation) and time.time() < options.deadline
    if state == GenerationState.FAILED and (again or not takeover):
        log.info("Generation %s of %s failed; creating a new one", generation_id, whose)
        if options.run_budget is not None:  # Luma refunded it
            yield from options.run_budget.release(options.prices.estimate(plan.request).usd or 0.0)
        return None
    # A failed generation of this very try is its outcome: the task fails with Luma's reason.
    log.info("Re-attaching to generation %s created by %s (%s)", generation_id, whose, state)
    return generation


def create(request: GenerationRequest, record: Record, options: Options, log: Logger) -> Flow:
    """
    Create the generation, paid once: recorded in doubt before it is sent, looked for after a
    failure that may have reached Luma, never re-sent blindly; Luma's rate limit waited out.

    :param request: what to create.
    :param record: this try's record, without a create in it.
    :param options: the try's options.
    :param log: the task's logger.
    :raises LumaAdoptionError: a lost create may have made one of several generations.
    :raises LumaAmbiguousCreateError: creates kept failing in a way that may have reached Luma, and
        none was listed: the record stays in doubt, and the next try looks again.
    """
    estimate = _checked_estimate(request, options, log)
    if options.min_credits is not None and request.api == AGENTS:
        raise LumaValidationError(
            "min_credits", "needs the Dream Machine API's credit balance; Luma's Agents API has none"
        )
    if options.min_credits is not None:
        balance = (yield Call("GET", "/credits")).get("credit_balance")
        if isinstance(balance, (int, float)) and balance < options.min_credits:
            raise LumaInsufficientCreditsError(
                f"Luma credit balance is {balance} US cents, below min_credits={options.min_credits}: "
                "top up the account (or lower min_credits) before generating"
            )
    budget = options.run_budget
    if budget is not None:  # an unknown price is never free under a budget
        estimate.check_within(budget.max_run_cost, cap="max_run_cost")
    # Files in object storage are uploaded before the claim on the run's budget (an upload costs
    # nothing; a claim is held only while its create is sent), once for every send of this create.
    body = yield from _with_uploads(request.body, options.deadline, log)
    if budget is not None:
        yield from budget.claim(estimate.usd or 0.0, f"this create ({estimate.what})", options.deadline, log)
    # No rendered fields show it on the triggerer; URLs go without query strings (signed, tokens).
    log.info("Creating %s: %s", request.path, json.dumps(redacted_values(request.body)))
    lost = 0
    while True:
        yield Turn()
        # Luma's limits on the key, kept across tasks and triggerers (see key_limits) by reading the
        # key's list of generations: the Agents API has none, so there its 429s are waited out.
        place = None
        if options.room is not None and request.api != AGENTS:
            place = yield from wait_for_room(
                options.room, family_of_path(request.path, request.body), options.deadline, log
            )
        sent_at = time.time()
        until = sent_at + CREATE_CALL_SECONDS
        yield Remember(record.in_doubt(sent_at, until))
        try:
            answer = yield Call("POST", request.path, json=body, creates=True, deadline=until)
        except LumaAmbiguousCreateError as exc:  # it may have made one: its place stays taken
            lost_at = time.time()
            yield Remember(record.in_doubt(sent_at, lost_at))
            if request.api == AGENTS:  # no list to look in: never sent again
                raise unverifiable_create_error(request, sent_at, str(exc)) from exc
            found = yield from find_lost_create(
                request, sent_at, lost_at, lost_at + options.settle_time, options.siblings, log
            )
            if found is not None:
                log.warning("%s; adopting generation %s, made by that request", exc, found["id"])
                metrics.created(request.body.get("model"), estimate.usd)
                if place is not None:
                    place.created(found["id"])
                yield Remember(record.made(found["id"]))
                return found
            lost += 1
            if lost == MAX_CREATES_IN_DOUBT:
                raise LumaAmbiguousCreateError(
                    f"{exc}. Luma lists no generation made by it after {options.settle_time:g} s; check "
                    "GET /generations before creating another"
                ) from exc.__cause__
            log.warning(
                "%s; Luma listed no generation for it in %g s, so creating it again", exc, options.settle_time
            )
            continue
        except LumaError as exc:
            if place is not None:
                place.free()
            if not (isinstance(exc, LumaRetryableError) and exc.http_status == 429):
                if budget is not None:  # Luma refused it: nothing was paid
                    yield from budget.release(estimate.usd or 0.0)
                raise
            yield Remember(record)  # a 429 created nothing: nothing is in doubt
            yield from _wait_out_rate_limit(exc.retry_after, options, log)
            continue
        generation = generation_object(answer, f"POST {request.path}")
        # Its id goes into paths, the record and XCom: only a generation id is taken.
        check_generation_id(generation.get("id"), f"the id in Luma's answer to POST {request.path}")
        log.info("Luma generation %s created (%s)", generation["id"], request.path)
        metrics.created(request.body.get("model"), estimate.usd)
        if place is not None:
            place.created(generation["id"])
        yield Remember(record.made(generation["id"]))
        return generation


#: How long after the task's deadline Luma may delete the files a create uploaded.
UPLOAD_EXPIRY_SECONDS = 3600.0


def _with_uploads(value: Any, deadline: float, log: Logger) -> Flow:
    """``value`` with every file in object storage it stands for uploaded, as ``{"file_id": ...}``."""
    if isinstance(value, dict):
        if UPLOAD in value:
            path = value[UPLOAD]
            file_id = yield Upload(path, value["media_type"], deadline + UPLOAD_EXPIRY_SECONDS, deadline)
            log.info("Uploaded %s to Luma as file %s", redacted(path), file_id)
            return {"file_id": file_id, "media_type": value["media_type"]}
        resolved = {}
        for key, item in value.items():
            resolved[key] = yield from _with_uploads(item, deadline, log)
        return resolved
    if isinstance(value, list):
        items = []
        for item in value:
            items.append((yield from _with_uploads(item, deadline, log)))
        return items
    return value


def unverifiable_create_error(
    request: GenerationRequest, sent_at: float, what: str
) -> LumaAmbiguousCreateError:
    """
    The final error of a create on Luma's Agents API that may have made a generation: that API
    lists no generations, so what it made cannot be found, and sending it again may pay twice.

    :param request: the create.
    :param sent_at: epoch seconds it was sent.
    :param what: what lost its answer (the error, or "an earlier try").
    """
    sent = datetime.fromtimestamp(sent_at, timezone.utc).isoformat(timespec="seconds")
    return LumaUnverifiableCreateError(
        f"A create of Luma's Agents API ({request.body.get('type')} with {request.body.get('model')}, "
        f"request {request.fingerprint[:12]}) sent at {sent} may have made a generation ({what}), and "
        "that API lists no generations to find it: it is not sent again. Check the usage of the key "
        "at that time on Luma's dashboard; clear the task to create a new one"
    )


def _checked_estimate(request: GenerationRequest, options: Options, log: Logger) -> Estimate:
    """The create's estimate; refuse it over ``max_cost`` or unknown under it, warn when unknown."""
    estimate = options.prices.estimate(request)
    estimate.check_within(options.max_cost)
    if estimate.usd is None:
        log.warning(
            "No price is known for %s: its cost is unknown (see the connection's 'prices')", estimate.what
        )
    return estimate


def _wait_out_rate_limit(retry_after: float | None, options: Options, log: Logger) -> Flow:
    pause = rate_limit_pause(retry_after)
    if time.time() + pause > options.deadline:
        raise LumaTimeoutError("Luma answered every create with 429 (rate limit) until the task's timeout")
    log.info("Luma's rate limit is reached: creating again in %.1f s", pause)
    yield Sleep(pause, rate_limited=True)


def generation_object(answer: Any, call: str) -> dict[str, Any]:
    """
    Luma's answer, which must be a generation object.

    :param answer: the decoded answer.
    :param call: the call, named in the error.
    """
    if not isinstance(answer, dict):
        raise LumaError(f"Luma answered {call} with {type(answer).__name__} instead of a generation object")
    return answer


def _get(generation_id: str, deadline: float) -> Call:
    """The poll of one generation: it always gets a few seconds, even at the deadline."""
    path = f"/generations/{check_generation_id(generation_id)}"
    return Call("GET", path, deadline=max(deadline, time.time() + MIN_POLL_SECONDS))


# -- wait -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitOutcome:
    """
    How a wait ended: the trigger event's status and what it carries.

    :param status: completed, failed or timeout.
    :param generation: the final generation (completed, failed).
    :param message: why it ended (timeout).
    """

    status: EventStatus
    generation: dict[str, Any] | None = None
    message: str | None = None

    @classmethod
    def of(cls, generation: dict[str, Any]) -> WaitOutcome:
        """The outcome of a generation already completed or failed."""
        return cls(EventStatus(GenerationState.known(generation).value), generation)

    def payload(self) -> dict[str, Any]:
        """The event payload's part that says how the wait ended."""
        if self.generation is not None:
            return {"status": self.status.value, "generation": self.generation}
        return {"status": self.status.value, "message": self.message}


def wait(
    generation_id: str,
    poll_interval: float,
    deadline: float,
    *,
    first_wait: float,
    delete_on_timeout: bool,
    since: float,
    log: Logger,
) -> Flow:
    """
    Poll at a fixed rate until the generation is completed or failed, or the deadline passes.

    Every poll, retries included, is bounded by the time left, so the end comes within seconds of
    the deadline even while Luma hangs. Each change of state is logged once, with the time since
    ``since``. A poll that fails for a reason retrying may fix is logged, and the wait goes on.

    :param generation_id: the generation.
    :param poll_interval: seconds between two polls.
    :param deadline: epoch seconds the wait ends by.
    :param first_wait: seconds before the first poll.
    :param delete_on_timeout: delete the generation when the deadline passes.
    :param since: epoch seconds the logged times count from.
    :param log: the task's logger.
    """
    yield Sleep(first_wait)
    last_state: GenerationState | None = None
    seen_at = 0.0  # when a poll first saw last_state (for the metrics)
    while True:
        polled_at = time.monotonic()
        try:
            answer = yield _get(generation_id, deadline)
            generation = generation_object(answer, f"GET /generations/{generation_id}")
        except (LumaRetryableError, LumaTransportError, LumaDeadlineError) as exc:
            log.warning("Polling generation %s failed, will poll again: %s", generation_id, exc)
        else:
            state = GenerationState.known(generation)
            if state is not last_state:
                if last_state is not None and not last_state.is_terminal:
                    metrics.spent(generation.get("model"), last_state.value, polled_at - seen_at)
                last_state, seen_at = state, polled_at
                log.info("Luma generation %s is %s (%.1f s)", generation_id, state.value, time.time() - since)
            if state.is_terminal:
                metrics.ended(generation.get("model"), state.value)
                return WaitOutcome.of(generation)
        remaining = deadline - time.time()
        if remaining <= 0:
            message = f"Luma generation {generation_id} did not finish before the deadline"
            if delete_on_timeout:
                message += yield from delete(generation_id, log)
            return WaitOutcome(EventStatus.TIMEOUT, message=message)
        # Fixed rate: a completion is seen within one interval; a slow answer adds nothing.
        yield Sleep(max(0.0, min(polled_at + poll_interval - time.monotonic(), remaining)))


def delete(generation_id: str, log: Logger) -> Flow:
    """Delete the generation (Luma has no cancel); return how that went, for a message."""
    path = f"/generations/{check_generation_id(generation_id)}"
    try:
        yield Call("DELETE", path, deadline=time.time() + DELETE_SECONDS)
    except LumaError as exc:
        log.warning("Could not delete generation %s: %s", generation_id, exc)
        return f"; deleting it failed: {exc}"
    log.info("Deleted generation %s", generation_id)
    return "; it was deleted"
