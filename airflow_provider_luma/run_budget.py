"""
A budget for one DAG run across its Luma tasks (``max_run_cost``), held across retries and across
tasks that start together.

**Where it is kept.** Each task instance keeps what its tries sent (the estimates of its creates,
in US dollars) in one XCom of its own, :data:`XCOM_RUN_SPEND`. One writer per entry (a task
instance's tries follow each other), living and dying with the run, read by workers and triggerers
alike. Not a pool: pools count slots, not dollars, and do not hold back tasks that start on the
triggerer. Not one Variable for the run: Variables have no compare-and-set, so two tasks that
read, add and write it would both spend the last dollar.

**Sealed.** Any task, or a REST API user, can write XComs, so an entry is sealed as the records
are (:class:`~airflow_provider_luma.records.RecordSeal`: a MAC keyed by the connection's API key,
bound to the task instance): one planted, copied from another task or written with another key is
ignored with a warning. So the tasks that share a budget are those of the run that use one key.

**Claiming.** Before a create, a task writes its claim (the estimate) beside what it spent, then
reads every task's entry of the run:

- what the run spent, with the claim, is over the budget: the claim is withdrawn and the task fails
  (final), naming what was spent and what it needed;
- it fits with every other claim too: the claim becomes spent, and the create goes ahead;
- it fits only if other claims do not go through: withdrawn, and tried again after a random pause.

Of two tasks that claim together, the one that writes last reads both claims, so they cannot both
spend the last dollar; a random pause keeps two that read each other from giving way forever. A
claim is decided within :data:`CLAIM_SECONDS` of being written, or withdrawn and made again, so a
claim older than twice that belongs to a task that died and is not counted.

**Across retries.** Airflow clears a task instance's XComs when a new try starts in a worker, so a
worker also keeps its entry where its next try finds it, and writes it again to XCom as a try
starts: in the task state store (Airflow 3.3+), before that in an Airflow Variable of the task
instance's own. A generation Luma failed, and so refunded, gives its share back when the next try
finds it failed (on 3.3+, where a retry knows the earlier try's generation).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeGuard

from airflow_provider_luma.effects import KeepSpend, RecallSpend, Sleep, XComValues
from airflow_provider_luma.records import Attempt, RecordSeal

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_luma.effects import Flow

#: The XCom (and task state store) key of a task instance's entry.
XCOM_RUN_SPEND = "luma_run_spend"
#: What an entry is sealed as.
SEALED_AS = "run spend"
#: The most seconds between writing a claim and deciding it.
CLAIM_SECONDS = 30.0
#: The pause before claiming again, after giving way to other claims: between these, at random.
GIVE_WAY_SECONDS = (0.2, 2.0)
#: Amounts are compared in micro-dollars: float sums must not refuse an exact fit.
_MICRO = 1_000_000


def _micro(usd: float) -> int:
    return round(usd * _MICRO)


@dataclass(frozen=True)
class SpendEntry:
    """
    What one task instance of the run sent, and the create it claims now.

    :param task_id: the task.
    :param map_index: its map index (-1 when not mapped).
    :param spent: US dollars its tries sent.
    :param claim: US dollars a create it is about to send is estimated at (0: none).
    :param claimed_at: epoch seconds the claim was written.
    :param try_number: the try whose claim ``spent`` holds last (a takeover of that try claims no
        more).
    """

    task_id: str
    map_index: int
    spent: float = 0.0
    claim: float = 0.0
    claimed_at: float | None = None
    try_number: int | None = None

    def as_xcom(self) -> dict[str, Any]:
        """The entry as stored."""
        return {
            "task_id": self.task_id,
            "map_index": self.map_index,
            "spent": round(self.spent, 6),
            "claim": round(self.claim, 6),
            "claimed_at": self.claimed_at,
            "try_number": self.try_number,
        }

    @classmethod
    def of(cls, stored: Any) -> SpendEntry | None:
        """
        The entry ``stored`` holds; None when it is not one (nothing, or a malformed or planted value).

        :param stored: what the XCom or store holds.
        """
        if not isinstance(stored, dict):
            return None
        task_id, map_index = stored.get("task_id"), stored.get("map_index")
        spent, claim = stored.get("spent"), stored.get("claim")
        claimed_at, try_number = stored.get("claimed_at"), stored.get("try_number")
        if not isinstance(task_id, str) or not _is_whole(map_index):
            return None
        if not (_is_amount(spent) and _is_amount(claim)):
            return None
        if not (claimed_at is None or _is_amount(claimed_at)):
            return None
        if not (try_number is None or _is_whole(try_number)):
            return None
        return cls(task_id, map_index, float(spent), float(claim), claimed_at, try_number)

    def counted_claim(self, now: float) -> float:
        """The claim, unless it is so old that its task died before deciding it."""
        if self.claimed_at is None or now - self.claimed_at > 2 * CLAIM_SECONDS:
            return 0.0
        return self.claim


def _is_whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_amount(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


class RunBudget:
    """
    One task instance's share of its DAG run's budget.

    :param max_run_cost: the most the run's Luma tasks may send, in US dollars.
    :param attempt: this try.
    :param tasks: the run's tasks (every map index of each is read).
    :param api_key: the connection's API key, whose seal the entries carry.
    """

    def __init__(self, max_run_cost: float, attempt: Attempt, tasks: tuple[str, ...], api_key: str) -> None:
        self.max_run_cost = max_run_cost
        self.attempt = attempt
        self.tasks = tasks
        self.api_key = api_key
        self.entry = SpendEntry(attempt.task_id, attempt.map_index)

    def start(self, log: Logger) -> Flow:
        """
        Take up what earlier tries of this task instance sent, and show it to the run's other tasks.

        :param log: the task's logger.
        """
        earlier = self._opened(self.entry.task_id, (yield RecallSpend()), log)
        if earlier is not None and earlier.map_index == self.entry.map_index:
            self.entry = replace(self.entry, spent=earlier.spent, try_number=earlier.try_number)
        yield self._keep(self.entry)

    def claim(self, need: float, what: str, deadline: float, log: Logger) -> Flow:
        """
        Claim ``need`` US dollars of the run's budget for a create, or fail without sending it.

        :param need: the create's estimate.
        :param what: what is created, for messages (one create, or a batch's items).
        :param deadline: epoch seconds the task must be done by.
        :param log: the task's logger.
        :raises LumaRunBudgetError: the run's tasks spent too much for ``need`` to fit.
        :raises LumaTimeoutError: other tasks' claims kept it waiting until the deadline.
        """
        from airflow_provider_luma.exceptions import LumaRunBudgetError, LumaTimeoutError

        if self.entry.try_number == self.attempt.try_number:
            log.info("Run budget: this try claimed its share before it was taken over")
            return
        budget = _micro(self.max_run_cost)
        while True:
            claimed_at = time.time()
            yield self._keep(replace(self.entry, claim=need, claimed_at=claimed_at))
            others = yield from self._others(log)
            now = time.time()
            mine = _micro(self.entry.spent)
            spent = mine + sum(_micro(entry.spent) for entry in others)
            claimed = sum(_micro(entry.counted_claim(now)) for entry in others)
            if spent + _micro(need) > budget:
                yield self._keep(self.entry)  # withdrawn
                raise LumaRunBudgetError(
                    f"max_run_cost is ${self.max_run_cost:g} for this DAG run; its Luma tasks have sent "
                    f"${spent / _MICRO:.4f} (this task instance ${mine / _MICRO:.4f}) and {what} needs "
                    f"${need:.4f}: nothing was created. Raise max_run_cost to go on"
                )
            if spent + claimed + _micro(need) <= budget and now - claimed_at < CLAIM_SECONDS:
                spent_now = self.entry.spent + need
                self.entry = replace(self.entry, spent=spent_now, try_number=self.attempt.try_number)
                yield self._keep(self.entry)
                log.info(
                    "Run budget: %s claims $%.4f; the run has now sent $%.4f of max_run_cost $%g",
                    what,
                    need,
                    (spent + _micro(need)) / _MICRO,
                    self.max_run_cost,
                )
                return
            yield self._keep(self.entry)  # give way: the others' claims may fit without ours
            if time.time() > deadline:
                raise LumaTimeoutError(
                    f"Run budget: other Luma tasks' claims on max_run_cost kept {what} waiting until "
                    "the task's timeout"
                )
            log.info("Run budget: other tasks claim $%.4f at the same time; claiming again", claimed / _MICRO)
            yield Sleep(random.uniform(*GIVE_WAY_SECONDS))

    def release(self, amount: float) -> Flow:
        """
        Give back what a create cost that Luma refused, or whose generation failed (refunded).

        :param amount: what it was estimated at.
        """
        self.entry = replace(self.entry, spent=max(0.0, self.entry.spent - amount))
        yield self._keep(self.entry)

    def _others(self, log: Logger) -> Flow:
        """The entries of the run's other task instances (one per task instance, unsealed ones dropped)."""
        me = (self.entry.task_id, self.entry.map_index)
        entries: dict[tuple[str, int], SpendEntry] = {}
        for task_id in self.tasks:
            for value in (yield XComValues(task_id, XCOM_RUN_SPEND)):
                entry = self._opened(task_id, value, log)
                if entry is not None and (task_id, entry.map_index) != me:  # once per task instance
                    entries[(task_id, entry.map_index)] = entry
        return list(entries.values())

    def _seal(self, task_id: str, map_index: int) -> RecordSeal:
        a = self.attempt
        return RecordSeal(self.api_key, Attempt(a.dag_id, a.run_id, task_id, map_index, a.try_number))

    def _keep(self, entry: SpendEntry) -> KeepSpend:
        return KeepSpend(self._seal(entry.task_id, entry.map_index).seal_fields(SEALED_AS, entry.as_xcom()))

    def _opened(self, task_id: str, stored: Any, log: Logger) -> SpendEntry | None:
        """The entry ``stored`` holds if it was sealed for a task instance of ``task_id``; else None."""
        if stored is None:
            return None
        map_index = stored.get("map_index") if isinstance(stored, dict) else None
        fields = self._seal(task_id, map_index).opened(SEALED_AS, stored) if _is_whole(map_index) else None
        entry = SpendEntry.of(fields)
        if entry is None or entry.task_id != task_id:
            log.warning(
                "Run budget: ignoring the entry in task %s's %s XCom: it was not written by that task "
                "with this connection's key (planted, copied, or another connection's)",
                task_id,
                XCOM_RUN_SPEND,
            )
            return None
        return entry


def run_budget_of(
    max_run_cost: float | None, attempt: Attempt, tasks: tuple[str, ...], api_key: str
) -> RunBudget | None:
    """
    The share of a task instance in its run's ``max_run_cost`` (None: the task has none).

    :param max_run_cost: the task's ``max_run_cost``, checked.
    :param attempt: the try.
    :param tasks: the run's tasks.
    :param api_key: the connection's API key (the entries' seal).
    """
    if max_run_cost is None:
        return None
    return RunBudget(max_run_cost, attempt, tasks, api_key)
