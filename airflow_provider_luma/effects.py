"""
The effects a step of the generation flow asks for, and the two drivers that perform them.

A step of :mod:`airflow_provider_luma.flow` is a generator: it yields effects and is sent their
results, and the failure of an effect is thrown into it. :func:`drive` runs a step with a
synchronous performer (a worker's: requests, the task state store, the task's XComs);
:func:`adrive` with a coroutine (the triggerer's: aiohttp, XComs relayed by its supervisor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import LumaError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator

    from airflow_provider_luma.records import Record

    #: A step of the flow: it yields effects, is sent their results, returns its own.
    Flow = Generator["Effect", Any, Any]


@dataclass(frozen=True)
class Call:
    """
    A call to Luma; the result is its decoded JSON.

    :param method: HTTP method.
    :param path: path relative to the base URL.
    :param json: request body.
    :param params: query parameters.
    :param creates: the call creates a generation (never re-sent when it may have reached Luma).
    :param deadline: epoch seconds the call, retries included, must end by.
    """

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    creates: bool = False
    deadline: float | None = None


@dataclass(frozen=True)
class Upload:
    """
    Upload a file from object storage to Luma's Agents API (``POST /files``, a presigned ``PUT``,
    ``complete``, then a wait for ``ready``); the result is its file id.

    :param path: the file, an ``ObjectStoragePath`` as its string (``file://...``, ``s3://...``).
    :param media_type: its MIME type.
    :param expires_at: epoch seconds after which Luma may delete it.
    :param deadline: epoch seconds the upload must end by.
    """

    path: str
    media_type: str
    expires_at: float
    deadline: float


@dataclass(frozen=True)
class Sleep:
    """
    Pause.

    :param seconds: how long.
    :param rate_limited: Luma's rate limit asked for it (a deferrable worker waits it out on the
        triggerer instead, holding no slot).
    """

    seconds: float
    rate_limited: bool = False


@dataclass(frozen=True)
class Turn:
    """
    Wait for the turn to send a create, before it is recorded and sent: a batch paces its creates
    under Luma's per-minute limit here, so that a create is sent when its record says it was.
    Elsewhere it is at once.
    """


@dataclass(frozen=True)
class Remember:
    """
    Keep the try's record (sealed, where the task instance keeps it).

    :param record: the record.
    """

    record: Record


@dataclass(frozen=True)
class XComValues:
    """
    Every value of one XCom key of one task of the run, all map indexes; the result is a list.

    :param task_id: the task.
    :param key: the XCom key.
    """

    task_id: str
    key: str


@dataclass(frozen=True)
class KeepSpend:
    """
    Keep the task instance's entry of its run's budget where the run's tasks read it (an XCom),
    and where its later tries do (:mod:`airflow_provider_luma.run_budget`).

    :param entry: the entry, as stored.
    """

    entry: dict[str, Any]


@dataclass(frozen=True)
class RecallSpend:
    """The task instance's entry of its run's budget, as its earlier tries left it (None: none)."""


Effect = Call | Upload | Sleep | Turn | Remember | XComValues | KeepSpend | RecallSpend


def drive(flow: Flow, perform: Callable[[Effect], Any]) -> Any:
    """
    Run ``flow`` to its end, performing each effect with ``perform``; return the flow's result.

    A :class:`~airflow_provider_luma.exceptions.LumaError` of an effect is thrown into the flow,
    which may handle it; anything else ends the flow there.

    :param flow: a step of :mod:`airflow_provider_luma.flow`.
    :param perform: performs one effect and returns its result.
    """
    answer: Any = None
    failure: LumaError | None = None
    while True:
        try:
            effect = flow.throw(failure) if failure is not None else flow.send(answer)
        except StopIteration as stop:
            return stop.value
        try:
            answer, failure = perform(effect), None
        except LumaError as exc:
            answer, failure = None, exc


async def adrive(flow: Flow, perform: Callable[[Effect], Awaitable[Any]]) -> Any:
    """
    :func:`drive`, with effects performed by a coroutine.

    :param flow: a step of :mod:`airflow_provider_luma.flow`.
    :param perform: performs one effect (a coroutine) and returns its result.
    """
    answer: Any = None
    failure: LumaError | None = None
    while True:
        try:
            effect = flow.throw(failure) if failure is not None else flow.send(answer)
        except StopIteration as stop:
            return stop.value
        try:
            answer, failure = await perform(effect), None
        except LumaError as exc:
            answer, failure = None, exc
