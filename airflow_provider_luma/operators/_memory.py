"""
What a task instance remembers across its tries: the generation it created, or a create in doubt.

Kept in Airflow's task state store (3.3+), which is scoped to one task instance of one DAG run and
survives both retries and clears. So the record is forgotten when the task instance succeeds: a
clear after success then creates a new generation (the user asked again), while a try after one
that did not succeed finds the record and can wait on what it paid for. Each record carries the
request's fingerprint: a changed request never re-attaches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

    from airflow_provider_luma.operators._request import GenerationRequest

#: The task state store key of the record.
STATE_STORE_KEY = "luma_generation"


@dataclass(frozen=True)
class Remembered:
    """
    The record an earlier try left.

    :param request: fingerprint of the request it sent.
    :param generation_id: the generation it made; None while its create is in doubt.
    :param sent_at: epoch seconds when the create was sent (for finding it when in doubt).
    :param body: the body it sent (for finding it when in doubt, and for people reading the store).
    """

    request: str
    generation_id: str | None = None
    sent_at: float | None = None
    body: dict[str, Any] | None = None

    @classmethod
    def parse(cls, value: Any) -> Remembered | None:
        """
        Read a stored record; None for anything else (an older provider's or a damaged value).

        :param value: what the task state store holds under :data:`STATE_STORE_KEY`.
        """
        if not isinstance(value, dict) or not isinstance(value.get("request"), str):
            return None
        try:
            return cls(**value)
        except TypeError:
            return None


class TaskMemory:
    """
    The task instance's record in the task state store; does nothing where there is no store.

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

    @property
    def in_use(self) -> bool:
        """Whether there is a store to remember in (so a success has a record to forget)."""
        return self.store is not None

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
        """The task instance succeeded: a clear of it is a request for a new generation."""
        if self.store is not None:
            self.store.delete(STATE_STORE_KEY)

    def _write(self, remembered: Remembered) -> None:
        if self.store is not None:
            self.store.set(STATE_STORE_KEY, {k: v for k, v in asdict(remembered).items() if v is not None})
