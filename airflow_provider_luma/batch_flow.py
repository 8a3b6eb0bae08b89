"""
A batch's items, driven together on one event loop: each item runs the one generation flow.

Each item is a single task's generation in all but where its record is kept: it continues what its
own record says was paid for (a takeover of this try, a retry after a failed try), finds what a
lost create made, or creates, paid once (:func:`airflow_provider_luma.flow.obtain`), then waits
(:func:`airflow_provider_luma.flow.wait`). An item's record is sealed for its index, so one item's
record never passes for another's.

What the batch adds:

- a cap on the generations in flight (``max_in_flight``): an item holds a slot from its first call
  to its end, so Luma never sees more of the batch running than that;
- pacing of the creates under Luma's per-minute limit (:class:`CreatePacer`), so that a batch
  does not lean on 429 answers;
- the ids its items hold are not theirs to adopt: identical items stay distinct generations;
- an item's failure is its own: the others run on, and the batch ends when every item has;
- one log line on how far the batch is, now and then (:class:`Progress`), instead of every item's
  changes of state (a batch of 1,000 would log 3,000 of those; they stay at DEBUG).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.adoption import IdenticalCreates, Siblings
from airflow_provider_luma.batches import ItemResult, check_within_tier
from airflow_provider_luma.effects import Call, Remember, Turn, adrive
from airflow_provider_luma.exceptions import LumaError, failure_is_final
from airflow_provider_luma.flow import Options, WaitOutcome, obtain, wait
from airflow_provider_luma.generations import (
    DEFAULT_SETTLE_SECONDS,
    RATE_LIMIT_DEFAULT_PAUSE_SECONDS,
    TERMINAL_STATES,
    failed_for_rate_limit,
    rate_limit_pause,
    returned_urls,
)
from airflow_provider_luma.key_limits import MINUTE_MARGIN_SECONDS, MINUTE_SECONDS
from airflow_provider_luma.pricing import PriceTable
from airflow_provider_luma.records import Plan, Record, Step, ended_items_key, item_key, plan
from airflow_provider_luma.validation import check_max_cost, check_positive_number

#: What the batch's list of completed items is sealed as.
COMPLETED_ITEMS = "completed items of the batch"
#: The least time between two of a batch's progress lines (:class:`Progress`).
PROGRESS_EVERY_SECONDS = 30.0

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from airflow.sdk.types import Logger

    from airflow_provider_luma.effects import Effect
    from airflow_provider_luma.key_limits import KeyRoom
    from airflow_provider_luma.kinds import GenerationRequest
    from airflow_provider_luma.pricing import Estimate
    from airflow_provider_luma.records import Attempt
    from airflow_provider_luma.run_budget import RunBudget


@dataclass(frozen=True)
class BatchOptions:
    """
    How a batch runs its items.

    :param max_in_flight: the most generations of the batch in flight at once.
    :param creates_per_minute: the most creates the batch sends in any minute.
    :param poll_interval: seconds between two polls of one generation.
    :param timeout: the longest an item may take, in seconds, from its first call.
    :param settle_time: seconds Luma's list is watched for what a lost create made.
    :param reattach: an item continues what an earlier try paid for (see the operators').
    :param reuse_on_clear: a clear after success reuses an item's completed generation.
    :param delete_on_timeout: delete an item's generation when its ``timeout`` passes.
    :param min_credits: the lowest balance (US cents) a create is sent at; None: not checked.
    :param max_cost: the most one item's create may be estimated at, in US dollars (None: no cap).
    :param max_run_cost: the most the DAG run's Luma tasks may send, in US dollars (None: no cap).
    """

    max_in_flight: int
    creates_per_minute: int
    poll_interval: float
    timeout: float
    settle_time: float = DEFAULT_SETTLE_SECONDS
    reattach: bool = True
    reuse_on_clear: bool = False
    delete_on_timeout: bool = False
    min_credits: int | None = None
    max_cost: float | None = None
    max_run_cost: float | None = None

    @classmethod
    def of(cls, kind: str, holder: Any) -> BatchOptions:
        """
        The options a batch operator or its trigger holds (under these fields' names), each checked
        (the error names it); durations in seconds or as timedeltas.

        :param kind: the batch's kind (its family's tier bounds the cap and the pace).
        :param holder: the operator or the trigger.
        """
        return cls(
            check_within_tier("max_in_flight", kind, holder.max_in_flight),
            check_within_tier("creates_per_minute", kind, holder.creates_per_minute),
            check_positive_number("poll_interval", holder.poll_interval),
            check_positive_number("timeout", holder.timeout),
            check_positive_number("settle_time", holder.settle_time),
            holder.reattach,
            holder.reuse_on_clear,
            holder.delete_on_timeout,
            holder.min_credits,
            check_max_cost("max_cost", holder.max_cost),
            check_max_cost("max_run_cost", holder.max_run_cost),
        )


class ItemRecords:
    """
    Where a batch's items keep their records: each sealed for its index, under its own key; and
    which items completed, kept once as the batch ends (sealed too).

    An item's record says which generation it holds. That it completed matters only to a try after
    a clear (a user asking again: a completed item makes a new image, one in flight is continued),
    so it is kept once for all items instead of one write per item (a batch of 1,000 on a
    triggerer: 1,000 writes less); a try that dies first leaves its items to be continued.

    :param seal: seals and opens the records (None: nothing is kept, as in ``dag.test()``).
    :param read: returns what is stored under a key.
    :param write: stores a value under a key.
    :param key: the task's own record key; an item's is :func:`~airflow_provider_luma.records.item_key`.
    :param log: where a record that does not open is reported.
    """

    def __init__(
        self,
        seal: Any,
        read: Callable[[str], Awaitable[Any]],
        write: Callable[[str, Any], Awaitable[None]],
        key: str,
        log: Logger,
    ) -> None:
        self.seal = seal
        self.read = read
        self.write = write
        self.key = key
        self.log = log
        self._completed: dict[str, str] = {}  # item index -> the generation it completed with

    async def recall(self, count: int) -> list[Record | None]:
        """The records the batch's ``count`` items left (None: none, or one that does not open)."""
        if self.seal is None:
            return [None] * count
        stored = await asyncio.gather(
            self.read(ended_items_key(self.key)), *(self.read(item_key(self.key, i)) for i in range(count))
        )
        completed = self.seal.open_fields(COMPLETED_ITEMS, stored[0], self.log) or {}
        records = [self.seal.open(value, self.log, item=index) for index, value in enumerate(stored[1:])]
        return [
            record.ended()
            if record is not None
            and record.generation_id
            and completed.get(str(index)) == record.generation_id
            else record
            for index, record in enumerate(records)
        ]

    async def keep(self, index: int, record: Record) -> None:
        """Keep ``record`` as item ``index``'s."""
        if self.seal is not None:
            await self.write(item_key(self.key, index), self.seal.seal(record, item=index))

    def completed(self, index: int, generation_id: str) -> None:
        """Item ``index`` completed with ``generation_id`` (kept by :meth:`keep_completed`)."""
        self._completed[str(index)] = generation_id

    async def keep_completed(self) -> None:
        """Keep which items of this try completed, once, as the batch ends."""
        if self.seal is not None:
            await self.write(
                ended_items_key(self.key), self.seal.seal_fields(COMPLETED_ITEMS, self._completed)
            )


class CreatePacer:
    """
    Lets at most ``per_minute`` creates go in any 60 s, as Luma counts them; the others wait.

    :param per_minute: the creates allowed in a minute.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def turn(self) -> None:
        """Wait until a create may go, and count it."""
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - MINUTE_SECONDS:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self._sent[0] + MINUTE_SECONDS + MINUTE_MARGIN_SECONDS - now)


class Progress:
    """
    How far a batch is, in one log line as an item ends, at most every ``every`` seconds (a batch
    of a few quick items says it only as it ends: see :func:`run_batch`).

    :param total: the batch's items.
    :param log: the task's logger.
    :param every: the least time between two lines, in seconds.
    """

    def __init__(self, total: int, log: Logger, every: float = PROGRESS_EVERY_SECONDS) -> None:
        self.total = total
        self.log = log
        self.every = every
        self.states: Counter[str] = Counter()
        self._said_at = time.monotonic()

    def ended(self, result: ItemResult) -> None:
        """Item ``result`` ended: say how far the batch is, if the last line is old enough."""
        self.states[result.state] += 1
        if time.monotonic() - self._said_at >= self.every:
            self.say()

    def say(self) -> None:
        """Say how far the batch is."""
        self._said_at = time.monotonic()
        how = ", ".join(f"{count} {state}" for state, count in sorted(self.states.items()))
        self.log.info("%d of %d items ended (%s)", self.states.total(), self.total, how or "none yet")


class ItemLog:
    """
    The task's logger, each line saying which item it is about.

    :param log: the task's logger.
    :param index: the item.
    :param quiet: INFO lines go to DEBUG.
    """

    def __init__(self, log: Logger, index: int, *, quiet: bool = False) -> None:
        self._log = log
        self._index = index
        self._prefix = f"requests[{index}]: "
        self._quiet = quiet

    def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        """Log at INFO (DEBUG when quiet)."""
        if self._quiet:
            self._log.debug(self._prefix + message, *args, **kwargs)
        else:
            self._log.info(self._prefix + message, *args, **kwargs)

    def quieted(self) -> ItemLog:
        """The same log, its INFO lines at DEBUG."""
        return ItemLog(self._log, self._index, quiet=True)

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        """Log at WARNING."""
        self._log.warning(self._prefix + message, *args, **kwargs)

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        """Log at ERROR, with the exception."""
        self._log.exception(self._prefix + message, *args, **kwargs)


def _say_what_is_continued(todos: Sequence[Plan], log: Logger) -> None:
    """One line for the items that continue their records, instead of one per item."""
    steps = Counter(todo.step for todo in todos if todo.record is not None)
    if steps:
        whose = "this try (a takeover)" if any(todo.takeover for todo in todos) else "an earlier try"
        log.info(
            "Continuing %d items from the records of %s: %d re-attach to their generations, %d look "
            "for a create in doubt, %d create",
            sum(steps.values()),
            whose,
            steps[Step.REATTACH] + steps[Step.FINISHED],
            steps[Step.SEARCH],
            steps[Step.CREATE],
        )


async def run_batch(
    requests: Sequence[GenerationRequest],
    options: BatchOptions,
    perform: Callable[[Effect], Awaitable[Any]],
    records: ItemRecords,
    attempt: Attempt,
    sibling_tasks: tuple[str, ...],
    trusted_origin: str | None,
    log: Logger,
    room: KeyRoom | None = None,
    prices: PriceTable | None = None,
    run_budget: RunBudget | None = None,
) -> list[ItemResult]:
    """
    Run every item of a batch to its end; return their results, in the order of ``requests``.

    :param requests: the items' create calls, validated.
    :param options: how the batch runs.
    :param perform: performs the flow's calls, pauses and XCom reads (a run's ``perform``).
    :param records: where the items keep their records.
    :param attempt: this try.
    :param sibling_tasks: the run's tasks, whose generations are not the batch's to adopt.
    :param trusted_origin: the connection's base URL, whose origin may serve assets over ``http``.
    :param log: the task's logger.
    :param room: the key's room in this process, whose limits each create waits for (None: not kept).
    :param prices: what the items' creates are estimated by (None: Luma's published prices).
    :param run_budget: the task instance's share of its DAG run's ``max_run_cost`` (None: none).
    :raises LumaCostLimitError: an item that may create is estimated above ``max_cost`` (nothing
        is created), or the batch's creates do not fit in ``max_run_cost``.
    """
    slots = asyncio.Semaphore(options.max_in_flight)
    pacer = CreatePacer(options.creates_per_minute)
    recalled = await records.recall(len(requests))
    todos = [
        plan(record, request, attempt, reattach=options.reattach, reuse_on_clear=options.reuse_on_clear)
        for record, request in zip(recalled, requests, strict=True)
    ]
    # The generations the batch's items hold: no item adopts another's. Those their records hold
    # count from the start, before their items re-attach: a takeover starts every item at once,
    # and an item whose create is in doubt may look for it first.
    _say_what_is_continued(todos, log)
    prices = prices or PriceTable()
    creates = {  # the whole batch, before any of its creates; a re-attach pays nothing new
        index: prices.estimate(todo.request)
        for index, todo in enumerate(todos)
        if todo.step not in (Step.REATTACH, Step.FINISHED)
    }
    for index, estimate in creates.items():
        estimate.check_within(options.max_cost, f"requests[{index}]: ")
    if run_budget is not None:
        await _claim_for_batch(run_budget, creates, time.time() + options.timeout, perform, log)
    held = {record.generation_id for record in recalled if record is not None and record.generation_id}
    twins = IdenticalCreates(held)
    for index, todo in enumerate(todos):
        if todo.step is Step.SEARCH:  # identical items in doubt share what Luma lists
            twins.searching(todo.request.fingerprint, index)

    paid: dict[int, float | None] = {}  # by item: the estimate of the generation it holds
    progress = Progress(len(todos), log)

    async def run_item(index: int, todo: Plan) -> ItemResult:
        result = await _run_item(index, todo)
        progress.ended(result)
        return result

    async def _run_item(index: int, todo: Plan) -> ItemResult:
        item_log = ItemLog(log, index)

        async def perform_item(effect: Effect) -> Any:
            if isinstance(effect, Turn):
                return await pacer.turn()
            if isinstance(effect, Remember):
                return await records.keep(index, effect.record)
            if not (isinstance(effect, Call) and effect.creates):
                return await perform(effect)
            with twins.sending(todo.request.fingerprint):
                answer = await perform(effect)
            if isinstance(answer, dict):
                held.add(str(answer.get("id")))
            return answer

        async with slots:
            try:
                return await _item(
                    index,
                    todo,
                    options,
                    perform_item,
                    perform,
                    records,
                    attempt,
                    Siblings(sibling_tasks, held, twins, index),  # held is read live, as items create
                    held,
                    trusted_origin,
                    room,
                    prices,
                    paid,
                    item_log,
                )
            except LumaError as exc:
                item_log.warning("failed: %s", exc)
                failure = str(exc)
                return ItemResult(
                    index, "error", failure=failure, final=_is_final(exc), cost=paid.get(index, 0.0)
                )
            except Exception as exc:  # one item's surprise must not end the others
                item_log.exception("failed")
                failure = f"{type(exc).__name__}: {exc}"
                return ItemResult(index, "error", failure=failure, cost=paid.get(index, 0.0))

    results = list(await asyncio.gather(*(run_item(i, todo) for i, todo in enumerate(todos))))
    progress.say()
    await records.keep_completed()
    return results


async def _item(
    index: int,
    todo: Plan,
    options: BatchOptions,
    perform: Callable[[Effect], Awaitable[Any]],
    perform_wait: Callable[[Effect], Awaitable[Any]],
    records: ItemRecords,
    attempt: Attempt,
    siblings: Siblings,
    held: set[str],
    trusted_origin: str | None,
    room: KeyRoom | None,
    prices: PriceTable,
    paid: dict[int, float | None],
    log: Any,
) -> ItemResult:
    """
    One item: continue its record (``todo``) or create, paid once (its effects performed by
    ``perform``, which paces creates and keeps records); wait, polling through ``perform_wait`` (the
    run's own: a wait creates and records nothing); say how it ended.
    """
    if todo.takeover:
        # A triggerer taking a batch over starts every item at once: its first calls (and so its
        # polls) are spread over one interval, as the single waits a restart hands over are.
        await asyncio.sleep(random.uniform(0.0, options.poll_interval))
    # An item taken over (another triggerer, the same try) keeps its deadline.
    started_at = todo.record.started_at if todo.takeover and todo.record else time.time()
    deadline = started_at + options.timeout
    record = Record.start(todo.request, attempt, started_at)
    item_options = Options(
        deadline, options.settle_time, options.min_credits, siblings, room, options.max_cost, prices
    )
    # A takeover re-attaching says so once for all items (run_batch), not once per item.
    quiet = todo.takeover and todo.step in (Step.REATTACH, Step.FINISHED)
    generation = await adrive(obtain(todo, record, item_options, log.quieted() if quiet else log), perform)
    generation_id = generation["id"]
    held.add(generation_id)
    cost = paid[index] = prices.estimate(todo.request).usd
    if generation.get("state") in TERMINAL_STATES:
        outcome = WaitOutcome.of(generation)
    else:
        outcome = await adrive(
            wait(
                generation_id,
                options.poll_interval,
                deadline,
                first_wait=min(options.poll_interval, max(0.0, deadline - time.time())),
                delete_on_timeout=options.delete_on_timeout,
                since=started_at,
                log=log.quieted(),  # the batch's progress says how its items go (Progress)
            ),
            perform_wait,
        )
    if (
        failed_for_rate_limit(outcome.generation)
        and time.time() + RATE_LIMIT_DEFAULT_PAUSE_SECONDS < deadline
    ):
        pause = rate_limit_pause(None)
        log.info(
            "generation %s failed for Luma's rate limit: making it again in %.1f s", generation_id, pause
        )
        await asyncio.sleep(pause)
        again = Plan(Step.REATTACH, todo.request, record.made(generation_id), takeover=True)
        return await _item(
            index, again, options, perform, perform_wait, records, attempt, siblings, held, trusted_origin,
            room, prices, paid, log,
        )  # fmt: skip
    final = outcome.generation or {}
    if outcome.generation is None:
        return ItemResult(index, "timeout", generation_id, failure=outcome.message, cost=cost)
    if final.get("state") != "completed":
        reason = final.get("failure_reason") or "Luma gave no reason"
        log.warning("generation %s failed: %s", generation_id, reason)
        return ItemResult(
            index,
            "failed",
            generation_id,
            failure=str(reason),
            final=failure_is_final(reason, final.get("failure_code")),
            cost=0.0,  # Luma refunds a failed generation
        )
    url = returned_urls(final, trusted_origin)
    # Ended: a retry (no clear since) takes it up again; a clear makes a new one.
    records.completed(index, generation_id)
    return ItemResult(
        index,
        "completed",
        generation_id,
        url=url,
        assets=final.get("assets"),
        cost=cost,
        output=final.get("output"),
    )


async def _claim_for_batch(
    budget: RunBudget,
    creates: dict[int, Estimate],
    deadline: float,
    perform: Callable[[Effect], Awaitable[Any]],
    log: Logger,
) -> None:
    """Claim every create the batch may send, at once, from its run's budget (each priced)."""
    for index, estimate in creates.items():  # an unknown price is never free under a budget
        estimate.check_within(budget.max_run_cost, f"requests[{index}]: ", cap="max_run_cost")
    await adrive(budget.start(log), perform)
    if creates:
        need = sum(estimate.usd or 0.0 for estimate in creates.values())
        what = f"this batch's {len(creates)} creates"
        await adrive(budget.claim(need, what, deadline, log), perform)


def _is_final(exc: LumaError) -> bool:
    from airflow.providers.common.compat.sdk import AirflowFailException

    return isinstance(exc, AirflowFailException)
