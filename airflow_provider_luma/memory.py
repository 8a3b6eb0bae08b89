"""
What a task instance remembers across its tries: the generation it created, or a create in doubt.

One record, kept where the try that writes it can reach it, and read by every later try:

- a task that starts in a worker keeps it in Airflow's task state store (3.3+), which is scoped
  to one task instance and survives retries and clears. The record is deleted when the task
  instance succeeds, so that a clear after success creates a new generation (the user asked again);
- a task that starts on the triggerer (3.3+) keeps it in an XCom of its own task instance: the
  triggerer relays XCom calls of a trigger, not task state store calls, and no worker clears the
  XComs of a try that starts there. The record says which try wrote it and whether that try
  succeeded: a triggerer that takes a wait over reads its own try's record, and a later try knows
  a success from a failure.

Each record carries the request's fingerprint: a changed request never re-attaches. What a record
means for the next try (:func:`next_step`) is decided in one place for both.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

    from airflow_provider_luma.kinds import GenerationRequest

#: The task state store key of a worker's record.
STATE_STORE_KEY = "luma_generation"
#: The XCom key of the record of a task that starts on the triggerer.
RECORD_XCOM_KEY = "luma_generation_record"


@dataclass(frozen=True)
class Remembered:
    """
    The record a try leaves.

    :param request: fingerprint of the request it sent.
    :param generation_id: the generation it made; None while its create is in doubt.
    :param sent_at: epoch seconds when the create was sent (for finding it when in doubt).
    :param body: the body it sent (for finding it when in doubt, and for people reading the record).
    :param try_number: the try that wrote it (records of tasks that start on the triggerer).
    :param started_at: epoch seconds when that try started waiting (its deadline counts from here).
    :param succeeded: that try succeeded: a later try is a request for a new generation.
    """

    request: str
    generation_id: str | None = None
    sent_at: float | None = None
    body: dict[str, Any] | None = None
    try_number: int | None = None
    started_at: float | None = None
    succeeded: bool = False

    @classmethod
    def parse(cls, value: Any) -> Remembered | None:
        """
        Read a stored record; None for anything else (an older provider's or a damaged value).

        :param value: what the store holds.
        """
        if not isinstance(value, dict) or not isinstance(value.get("request"), str):
            return None
        try:
            return cls(**value)
        except TypeError:
            return None

    def stored(self) -> dict[str, Any]:
        """The record as it is stored: plain JSON, empty fields left out."""
        return {key: value for key, value in asdict(self).items() if value not in (None, False)}


class Step(enum.Enum):
    """What a try does with what an earlier try of its task instance left."""

    CREATE = "create"  # nothing worth waiting on: create a generation
    REATTACH = "reattach"  # wait on the generation an earlier try made, if it can still serve
    SEARCH = "search"  # an earlier create is in doubt: look for what it made before creating
    FINISHED = "finished"  # this very try already succeeded (a triggerer died before saying so)


def next_step(remembered: Remembered | None, request: GenerationRequest, try_number: int | None) -> Step:
    """
    What a try does, given the record an earlier try (or an earlier triggerer) left.

    :param remembered: the record, if any.
    :param request: this try's request.
    :param try_number: this try's number (None where records carry none: the worker's store).
    """
    if remembered is None or remembered.request != request.fingerprint:
        return Step.CREATE
    if remembered.succeeded:
        same_try = try_number is not None and remembered.try_number == try_number
        return Step.FINISHED if same_try else Step.CREATE
    if remembered.generation_id:
        return Step.REATTACH
    return Step.SEARCH if remembered.sent_at is not None else Step.CREATE


#: What a try says before it looks for the generation of a create in doubt.
SEARCHING_FOR_CREATE_IN_DOUBT = (
    "A create of this task instance was sent and Luma's answer never recorded: looking for the "
    "generation it made before creating one"
)


def why_not_reattached(remembered: Remembered, request: GenerationRequest) -> str | None:
    """
    Why a try creates anew although an earlier try left a record (None: nothing worth saying).

    :param remembered: the record.
    :param request: this try's request.
    """
    if remembered.request != request.fingerprint:
        return (
            f"An earlier try made generation {remembered.generation_id or '(its create was in doubt)'} for "
            "other parameters than this try's: creating a new one"
        )
    if remembered.succeeded:
        return f"An earlier try succeeded with generation {remembered.generation_id}: creating a new one"
    return None


def unusable_earlier_generation(generation: dict[str, Any] | None, generation_id: str) -> str | None:
    """
    Why an earlier try's generation cannot serve this try (None: re-attach to it).

    :param generation: the generation as Luma returns it now, or None when it is gone (404).
    :param generation_id: its id.
    """
    if generation is None:
        return f"Generation {generation_id} of an earlier try is gone; creating a new one"
    if generation.get("state") == "failed":
        return f"Generation {generation_id} of an earlier try failed; creating a new one"
    return None


class TaskMemory:
    """
    The worker's record, in the task state store; does nothing where there is no store.

    :param store: ``context["task_state_store"]``, or None (Airflow before 3.3, or ``reattach=False``).
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    @classmethod
    def of(cls, context: Context, *, reattach: bool, log: Logger | None) -> TaskMemory:
        """
        The memory of the running task instance.

        :param context: the task context.
        :param reattach: the operator's ``reattach``; False forgets nothing and remembers nothing.
        :param log: where to say that this Airflow cannot remember (None: say nothing).
        """
        store = context.get("task_state_store") if reattach else None
        if reattach and store is None and log is not None:
            log.info(
                "This Airflow has no task state store (3.3+): a retry of this task cannot re-attach to "
                "the generation of an earlier try and will create a new one"
            )
        return cls(store)

    def recall(self) -> Remembered | None:
        """What an earlier try of this task instance left, if anything."""
        return None if self.store is None else Remembered.parse(self.store.get(STATE_STORE_KEY))

    def in_doubt(self, request: GenerationRequest, sent_at: float) -> None:
        """
        Record a create about to be sent: until its answer is recorded, a retry looks for what it made.

        :param request: the request.
        :param sent_at: epoch seconds it is sent at.
        """
        self._write(Remembered(request.fingerprint, sent_at=sent_at, body=request.body))

    def created(self, request: GenerationRequest, generation_id: str) -> None:
        """
        Record the generation a request made.

        :param request: the request.
        :param generation_id: the generation's id.
        """
        self._write(Remembered(request.fingerprint, generation_id))

    def forget(self) -> None:
        """The task instance succeeded (or a 429 created nothing): a clear asks for a new generation."""
        if self.store is not None:
            self.store.delete(STATE_STORE_KEY)

    def _write(self, remembered: Remembered) -> None:
        if self.store is not None:
            self.store.set(STATE_STORE_KEY, remembered.stored())


class TriggerMemory:
    """
    The record of a task that starts on the triggerer, in an XCom of its own task instance.

    :param task_instance: the task instance the triggerer attached to the trigger.
    :param enabled: the operator's ``reattach``; False reads nothing and leaves only the record a
        take-over needs (the create in doubt and the generation of the running try).
    """

    def __init__(self, task_instance: Any, *, enabled: bool) -> None:
        self.task_instance = task_instance
        self.enabled = enabled

    async def recall(self) -> Remembered | None:
        """The record of this task instance: this try's (a take-over) or an earlier try's."""
        from airflow.providers.common.compat.sdk import XCom

        ti = self.task_instance
        value = await XCom.aget_one(
            key=RECORD_XCOM_KEY,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
        )
        remembered = Remembered.parse(value)
        if remembered is not None and not self.enabled and remembered.try_number != ti.try_number:
            return None  # reattach=False: an earlier try's generation is never waited on again
        return remembered

    async def write(self, remembered: Remembered) -> None:
        """
        Store ``remembered`` as this try's record (before a create is sent, and after).

        :param remembered: the record, without its try number (filled in here).
        """
        from airflow.providers.common.compat.sdk import XCom

        ti = self.task_instance
        await XCom.aset(
            RECORD_XCOM_KEY,
            replace(remembered, try_number=ti.try_number).stored(),
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
        )


def mark_succeeded_in_worker(context: Context) -> None:
    """
    A worker finished a task that started on the triggerer: its record says this try succeeded.

    :param context: the task context.
    """
    ti = context["ti"]
    remembered = Remembered.parse(
        ti.xcom_pull(task_ids=ti.task_id, key=RECORD_XCOM_KEY, map_indexes=ti.map_index)
    )
    if remembered is not None:
        ti.xcom_push(key=RECORD_XCOM_KEY, value=replace(remembered, succeeded=True).stored())
