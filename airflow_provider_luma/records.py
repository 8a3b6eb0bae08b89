"""
What a task instance remembers across its tries and triggerers, and what the next one does with it.

A try keeps one record of what it paid for: the request it sends, a create in flight (sent, its
answer not yet seen), the generation it made, and whether it succeeded. A later try, or a
triggerer that takes the same try over, reads it before anything else, so that nothing is paid
twice and the image returned is the one paid for (:func:`plan`).

Where it is kept depends on where the try runs: a worker keeps it in Airflow's task state store
(3.3+), the triggerer in an XCom of the task instance (the triggerer relays XCom calls, not task
state store calls). Both can be written by others (any task can write XComs, a REST API user
either store), so a record is sealed: a keyed MAC over its fields and the task instance it belongs
to (DAG, run, task, map index), keyed by the connection's API key, which XCom writers and REST API
users do not hold. A record that does not open is ignored with a warning: the try does its own
work.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.kinds import GenerationRequest

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

#: The task state store key of a worker's record.
STATE_STORE_KEY = "luma_generation"
#: The XCom key of the record of a task that starts on the triggerer.
RECORD_XCOM_KEY = "luma_generation_record"


@dataclass(frozen=True)
class Attempt:
    """
    One try of one task instance: whose record it may open, and what tells a clear from a retry.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task.
    :param map_index: the map index (-1 when not mapped).
    :param try_number: the try.
    :param max_tries: the task instance's ``max_tries`` where Airflow gives it (a worker), else None.
        A clear raises it and a retry does not.
    :param run_started_at: when the DAG run started (epoch seconds): a clear of a finished run
        starts it again, a retry does not. The signal where ``max_tries`` is unknown: Airflow 3.3.2
        gives a trigger neither the task instance's ``max_tries`` nor the run's ``clear_number``.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int | None = None
    run_started_at: float | None = None

    @classmethod
    def of(cls, ti: Any, dag_run: Any, *, max_tries_known: bool) -> Attempt:
        """
        The attempt of a running task instance.

        :param ti: the task instance.
        :param dag_run: its DAG run, if at hand.
        :param max_tries_known: whether ``ti.max_tries`` is Airflow's (a worker's task instance; the
            triggerer's is built from the task's ``retries``).
        """
        map_index = ti.map_index if isinstance(ti.map_index, int) else -1
        max_tries = getattr(ti, "max_tries", None) if max_tries_known else None
        start = getattr(dag_run, "start_date", None)
        started = start.timestamp() if start is not None else None
        return cls(ti.dag_id, ti.run_id, ti.task_id, map_index, ti.try_number, max_tries, started)


@dataclass(frozen=True)
class Record:
    """
    What one try paid for.

    :param path: the create endpoint of its request.
    :param body: the body of its request.
    :param try_number: the try that wrote it.
    :param started_at: epoch seconds when that try started (its deadline counts from here).
    :param max_tries: the task instance's ``max_tries`` then, where known.
    :param run_started_at: when the DAG run had started, then.
    :param sent_at: epoch seconds a create was sent at, while its outcome is unknown.
    :param until: the latest epoch second that create could have made a generation at.
    :param generation_id: the generation it made.
    :param succeeded: the try succeeded.
    """

    path: str
    body: dict[str, Any]
    try_number: int
    started_at: float
    max_tries: int | None = None
    run_started_at: float | None = None
    sent_at: float | None = None
    until: float | None = None
    generation_id: str | None = None
    succeeded: bool = False

    @classmethod
    def start(cls, request: GenerationRequest, attempt: Attempt, started_at: float) -> Record:
        """
        The record of a try that has sent nothing yet.

        :param request: what it will create.
        :param attempt: the try.
        :param started_at: when it started.
        """
        a = attempt
        return cls(request.path, request.body, a.try_number, started_at, a.max_tries, a.run_started_at)

    @property
    def request(self) -> GenerationRequest:
        """The request the try sends."""
        return GenerationRequest(self.path, self.body)

    def in_doubt(self, sent_at: float, until: float) -> Record:
        """The record of a create sent at ``sent_at`` that can make a generation until ``until``."""
        return replace(self, sent_at=sent_at, until=until, generation_id=None)

    def made(self, generation_id: str) -> Record:
        """The record of the generation this try waits on."""
        return replace(self, sent_at=None, until=None, generation_id=generation_id)

    def ended(self) -> Record:
        """The record of a try that succeeded (kept: a retry after Airflow failed it takes it up)."""
        return replace(self, succeeded=True)

    def cleared_since(self, attempt: Attempt) -> bool:
        """
        Whether the task instance was cleared since this record was written (a user asked again).

        :param attempt: the try reading it.
        """
        if self.max_tries is not None and attempt.max_tries is not None:
            return self.max_tries != attempt.max_tries
        return self.run_started_at != attempt.run_started_at


class RecordSeal:
    """
    Seals what one task instance keeps for itself, and opens only what was sealed for it.

    :param api_key: the connection's API key (the MAC's key is derived from it, never stored).
    :param attempt: the try, whose task instance what is sealed is bound to.
    """

    def __init__(self, api_key: str, attempt: Attempt) -> None:
        self._key = hmac.new(api_key.encode(), b"airflow-provider-luma seal", hashlib.sha256).digest()
        self.attempt = attempt

    def seal(self, record: Record, item: int | None = None) -> dict[str, Any]:
        """
        The record as stored: its fields (empty ones left out) and ``mac``.

        :param record: the record.
        :param item: the batch item it is the record of (None: the task's only generation).
        """
        fields = asdict(record)
        return self.seal_fields(
            _what(item), {k: v for k, v in fields.items() if v is not None and v is not False}
        )

    def open(self, stored: Any, log: Logger, item: int | None = None) -> Record | None:
        """
        The record ``stored`` holds, if it was sealed for this task instance (and item); else None.

        :param stored: what the store holds (None when nothing).
        :param log: where a record that does not open is reported.
        :param item: the batch item it must be the record of (None: the task's only generation).
        """
        fields = self.open_fields(_what(item), stored, log)
        try:
            return None if fields is None else Record(**fields)
        except TypeError:
            return None

    def seal_fields(self, what: str, fields: dict[str, Any]) -> dict[str, Any]:
        """
        ``fields`` and their ``mac``, bound to this task instance and to ``what`` they are.

        :param what: what the fields are (a record, the decorator's parameters...).
        :param fields: JSON-ready fields.
        """
        return {**fields, "mac": self._mac(what, fields)}

    def open_fields(self, what: str, stored: Any, log: Logger) -> dict[str, Any] | None:
        """
        The fields ``stored`` holds, if they were sealed for this task instance as ``what``; else None.

        :param what: what they must be.
        :param stored: what the store holds (None when nothing).
        :param log: where what does not open is reported.
        """
        if stored is None:
            return None
        fields = self.opened(what, stored)
        if fields is not None:
            return fields
        log.warning(
            "Ignoring the stored Luma %s of this task instance: it was not written by this task "
            "instance with this connection's key (a replay, a value planted by another task or user, "
            "or a rotated key). This try does its own work.",
            what,
        )
        return None

    def opened(self, what: str, stored: Any) -> dict[str, Any] | None:
        """
        The fields ``stored`` holds if they were sealed for this task instance as ``what``, else None
        (said nowhere: the caller knows whose they should be).

        :param what: what they must be.
        :param stored: what the store holds.
        """
        fields = dict(stored) if isinstance(stored, dict) else {}
        mac = fields.pop("mac", None)
        if isinstance(mac, str) and hmac.compare_digest(mac, self._mac(what, fields)):
            return fields
        return None

    def _mac(self, what: str, fields: dict[str, Any]) -> str:
        a = self.attempt
        bound = {"task_instance": [a.dag_id, a.run_id, a.task_id, a.map_index], what: fields}
        message = json.dumps(bound, sort_keys=True, separators=(",", ":"), default=str).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _what(item: int | None) -> str:
    """What a record is sealed as: a batch item's cannot pass for another item's, nor for a task's."""
    return "record" if item is None else f"record of batch item {item}"


def item_key(key: str, index: int) -> str:
    """
    The key a batch item's record is kept under, beside the task's own ``key``.

    :param key: :data:`STATE_STORE_KEY` or :data:`RECORD_XCOM_KEY`.
    :param index: the item's place in the batch's ``requests``.
    """
    return f"{key}_{index}"


def ended_items_key(key: str) -> str:
    """
    The key a batch keeps which of its items ended (completed) under, beside the task's own ``key``.

    :param key: :data:`STATE_STORE_KEY` or :data:`RECORD_XCOM_KEY`.
    """
    return f"{key}_ended"


class Step(enum.Enum):
    """What a try does first, given the record."""

    CREATE = "create"  # nothing to continue: create a generation
    REATTACH = "reattach"  # wait on the record's generation, if it can still serve
    SEARCH = "search"  # a create is in doubt: find what it made before creating
    FINISHED = "finished"  # this very try already succeeded (its triggerer died before saying so)


@dataclass(frozen=True)
class Plan:
    """
    A try's first step, the request it works on, and the record it continues.

    :param step: what to do first.
    :param request: the request: the record's own when the same try is taken over.
    :param record: the record continued (None: a fresh start).
    :param takeover: the record is this very try's (another triggerer, or a resume).
    :param note: why a record is not continued, for the log.
    """

    step: Step
    request: GenerationRequest
    record: Record | None = None
    takeover: bool = False
    note: str | None = None


def plan(
    record: Record | None,
    request: GenerationRequest,
    attempt: Attempt,
    *,
    reattach: bool,
    reuse_on_clear: bool = False,
) -> Plan:
    """
    What a try does with the record of its task instance.

    - The same try (a triggerer taking it over, a resume): it continues the record's own request,
      whatever the templates render now: what was paid for does not change.
    - A later try, same request: it continues a generation or a create in doubt. After a try that
      succeeded, it continues only when nothing cleared the task instance since: Airflow failed
      that try after it finished (its deferral race), and the retry takes what it paid for; a clear
      is a user asking again, for a new image (unless ``reuse_on_clear``: a run cleared to redo
      a downstream step).
    - Anything else starts afresh.

    :param record: the opened record, or None.
    :param request: this try's rendered request.
    :param attempt: this try.
    :param reattach: the operator's ``reattach``: False never continues an earlier try.
    :param reuse_on_clear: the operator's ``reuse_on_clear``: a clear after success continues too.
    """
    if record is None:
        return Plan(Step.CREATE, request)
    if record.try_number == attempt.try_number:
        return Plan(_continued(record, Step.FINISHED), record.request, record, takeover=True)
    earlier = record.generation_id or "(its create was in doubt)"
    if not reattach:
        return Plan(Step.CREATE, request)
    if record.request.fingerprint != request.fingerprint:
        note = f"An earlier try made generation {earlier} for other parameters than this try's"
        return Plan(Step.CREATE, request, note=note)
    if record.succeeded and record.cleared_since(attempt) and not reuse_on_clear:
        note = f"An earlier try succeeded with generation {earlier} and the task was cleared since"
        return Plan(Step.CREATE, request, note=note)
    return Plan(_continued(record, Step.REATTACH), request, record)


def _continued(record: Record, when_succeeded: Step) -> Step:
    if record.succeeded:
        return when_succeeded
    if record.generation_id:
        return Step.REATTACH
    return Step.SEARCH if record.sent_at is not None else Step.CREATE
