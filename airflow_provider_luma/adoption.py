"""
Which generation a lost create made, if the evidence singles one out: a step of the flow.

Luma has no idempotency key. When a create fails after it may have reached Luma (a reset, a read
timeout, a 5xx), or a try dies while its create is in flight, the only evidence is Luma's list of
generations, newest first. A generation made by that create:

- carries exactly our request (Luma echoes it; fields left empty count as not sent);
- was created between the send and the moment the create could no longer make anything (its
  answer was lost, or its longest life ran out), give or take the clocks' skew: a later run's
  identical request is outside that window;
- is held by no other task of the run (identical siblings: variants of one prompt).

The list is read back to the send however many pages that takes (pages overlap, so deletions
meanwhile hide nothing; a generation listed twice counts once), and read again until
``settle_time`` after the loss (Luma documents no bound on when a new generation is listed).
Several candidates: nothing is adopted, nothing created; the task fails naming them. Why no tag
in an echoed field: the docs' reliability page.

Within one batch, k identical items may look for what their creates made at once (a triggerer
killed between their creates and their records): up to k unheld generations with their request
are theirs, and each takes the oldest not yet taken (:class:`IdenticalCreates`).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.effects import Call, Sleep, XComValues
from airflow_provider_luma.exceptions import LumaAdoptionError, LumaAmbiguousCreateError, LumaValidationError
from airflow_provider_luma.generations import XCOM_GENERATION_ID
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from collections.abc import Set as AbstractSet

    from airflow.sdk.types import Logger

    from airflow_provider_luma.effects import Flow
    from airflow_provider_luma.kinds import GenerationRequest

#: How far Luma's clock may be from ours, either way, when a generation's ``created_at`` is read.
CLOCK_SKEW_SECONDS = 10.0
#: Page size of the list read.
PAGE = 100
#: Each page starts this many generations before the end of the last: deletions meanwhile
#: (which pull what follows back) hide nothing unless there are more of them.
OVERLAP = 10
#: Seconds between two reads of the list while a lost create may still show.
SEARCH_INTERVAL_SECONDS = 2.0
#: The longest one read of the list back to the send may take (a hostile list that never ends).
READ_SECONDS = 300.0

#: What a try says before it looks for the generation of a create in doubt.
SEARCHING_FOR_LOST_CREATE = (
    "A create of this task instance was sent and Luma's answer never recorded: looking for the "
    "generation it made before creating one"
)


class IdenticalCreates:
    """
    A batch's items whose creates carry one identical request, looking for what they made or in
    flight, by the request's fingerprint.

    Luma's list cannot tell which of two generations with one request whose create made. When k
    items look for what their creates made, up to k generations with that request that no item
    holds are theirs (more: another client's identical request is among them, and nothing is
    adopted). Each takes the oldest not yet taken, and holds it before its next call, so no two
    take the same. A create of that request still in flight may have made one of those listed:
    the search waits for its answer, which puts it among the held.

    :param held: the ids the batch's items hold; an adopted one is added at once.
    """

    def __init__(self, held: set[str]) -> None:
        self.held = held
        self._searching: defaultdict[str, set[int]] = defaultdict(set)
        self._in_flight: Counter[str] = Counter()

    def searching(self, fingerprint: str, index: int) -> None:
        """Item ``index`` looks (or is about to look) for what its create of ``fingerprint`` made."""
        self._searching[fingerprint].add(index)

    def search_ended(self, fingerprint: str, index: int) -> None:
        """Item ``index`` found what its create made, or found nothing."""
        self._searching[fingerprint].discard(index)

    def share(self, fingerprint: str) -> int:
        """How many items look for what their creates of ``fingerprint`` made (at least 1)."""
        return max(1, len(self._searching[fingerprint]))

    def in_flight(self, fingerprint: str) -> bool:
        """True while a create of ``fingerprint`` is sent and unanswered."""
        return self._in_flight[fingerprint] > 0

    @contextmanager
    def sending(self, fingerprint: str) -> Iterator[None]:
        """Count a create of ``fingerprint`` in flight for the span of the block."""
        self._in_flight[fingerprint] += 1
        try:
            yield
        finally:
            self._in_flight[fingerprint] -= 1


@dataclass(frozen=True)
class Siblings:
    """
    Whose generations are not ours.

    :param tasks: the run's tasks: the ids in their ``generation_id`` XComs (every map index).
    :param ids: ids known otherwise (those the caller saw created; a batch's set grows as its
        items create).
    :param twins: a batch's identical creates (None: a task's own create has no twin in its process).
    :param index: the batch item looking (with ``twins``).
    """

    tasks: tuple[str, ...] = ()
    ids: AbstractSet[str] = frozenset()
    twins: IdenticalCreates | None = None
    index: int = 0

    def held_ids(self) -> Flow:
        """The ids the siblings hold."""
        held: set[str] = set()
        for task_id in self.tasks:
            values = yield XComValues(task_id, XCOM_GENERATION_ID)
            held.update(value for value in values if isinstance(value, str))
        return held | set(self.ids)  # read last: the batch's items take theirs meanwhile

    def share(self, request: GenerationRequest) -> int:
        """How many creates of this process with exactly ``request`` are looked for now (at least 1)."""
        return self.twins.share(request.fingerprint) if self.twins is not None else 1

    def twin_in_flight(self, request: GenerationRequest) -> bool:
        """True while another create of this process with exactly ``request`` is unanswered."""
        return self.twins is not None and self.twins.in_flight(request.fingerprint)

    def take(self, generation_id: str) -> None:
        """Hold an adopted generation, so that no twin takes it too."""
        if self.twins is not None:
            self.twins.held.add(generation_id)


def find_lost_create(
    request: GenerationRequest,
    sent_at: float,
    until: float,
    look_until: float,
    siblings: Siblings,
    log: Logger,
) -> Flow:
    """
    The one generation a lost create made; None once ``look_until`` passes with none listed.

    :param request: the create sent.
    :param sent_at: epoch seconds it was sent at.
    :param until: the latest epoch second it could have made a generation at.
    :param look_until: epoch seconds until which the list is read again while nothing is found.
    :param siblings: whose generations are not ours.
    :param log: the task's logger.
    :raises LumaAdoptionError: several generations fit (final).
    """
    window = (sent_at - CLOCK_SKEW_SECONDS, until + CLOCK_SKEW_SECONDS)
    if siblings.twins is not None:
        siblings.twins.searching(request.fingerprint, siblings.index)
    try:
        return (yield from _search(request, window, look_until, siblings, log))
    finally:
        if siblings.twins is not None:
            siblings.twins.search_ended(request.fingerprint, siblings.index)


def _search(
    request: GenerationRequest,
    window: tuple[float, float],
    look_until: float,
    siblings: Siblings,
    log: Logger,
) -> Flow:
    while True:
        looked_at = time.time()
        matches = yield from _listed_in_window(request.body, *window)
        if matches and siblings.twin_in_flight(request):
            log.info("A create with the same request is unanswered: looking again after its answer")
            yield Sleep(SEARCH_INTERVAL_SECONDS)
            continue
        if matches:
            taken = yield from siblings.held_ids()
            candidates = sorted(
                (generation for generation in matches if generation.get("id") not in taken),
                key=lambda generation: (created_at(generation) or 0.0, str(generation.get("id"))),
            )
            share = siblings.share(request)
            if len(candidates) > share:
                ids = ", ".join(str(generation.get("id")) for generation in candidates)
                twins = f", more than the {share} identical items of this batch looking" if share > 1 else ""
                raise LumaAdoptionError(
                    f"A create of {request.path} (prompt {str(request.body.get('prompt'))[:100]!r}) may "
                    f"have reached Luma, and {len(candidates)} generations created since carry exactly its "
                    f"request ({ids}), none held by another task of this run{twins}: none was adopted and "
                    "nothing was created. Keep the one you want and delete the others"
                )
            if candidates:
                siblings.take(str(candidates[0].get("id")))
                return candidates[0]
        if looked_at >= look_until:
            return None
        log.info("Luma lists no generation made by the lost create yet: looking again")
        yield Sleep(min(SEARCH_INTERVAL_SECONDS, look_until - looked_at))


def _listed_in_window(body: Mapping[str, Any], oldest: float, newest: float) -> Flow:
    """The listed generations with exactly ``body``, created between ``oldest`` and ``newest``."""
    seen: dict[Any, dict[str, Any]] = {}
    offset, stop_at = 0, time.time() + READ_SECONDS
    while True:
        page = yield Call("GET", "/generations", params={"limit": PAGE, "offset": offset})
        listed = (page.get("generations") if isinstance(page, dict) else None) or []
        generations = [generation for generation in listed if isinstance(generation, dict)]
        older = False
        for generation in generations:  # newest first: once one is older, all that follow are
            created = created_at(generation)
            if created is not None and created < oldest:
                older = True
                break
            seen.setdefault(generation.get("id"), generation)
        if older or not generations or not page.get("has_more"):
            break
        if time.time() > stop_at:
            raise LumaAmbiguousCreateError(
                "Luma's list of generations did not reach back to the lost create within "
                f"{READ_SECONDS:g} s; the next try looks again"
            )
        offset += max(1, len(generations) - OVERLAP)
    return [
        generation
        for generation in seen.values()
        if _within(created_at(generation), oldest, newest)
        and same_request(generation.get("request"), body)
        and _is_generation_id(generation.get("id"))
    ]


def _is_generation_id(value: Any) -> bool:
    """Only a generation id can be adopted: it goes into paths, the record and XCom."""
    try:
        check_generation_id(value)
    except LumaValidationError:
        return False
    return True


def _within(created: float | None, oldest: float, newest: float) -> bool:
    return created is None or oldest <= created <= newest  # no date: it cannot be ruled out


def same_request(echoed: Any, sent: Mapping[str, Any]) -> bool:
    """
    True when a generation's echoed request is exactly the request we sent.

    Luma echoes the fields as sent and adds the ``generation_type`` discriminator; fields left
    empty (None) count as not sent on either side.

    :param echoed: the ``request`` of a generation object.
    :param sent: the body we posted.
    """
    if not isinstance(echoed, dict):
        return False
    theirs = {key: value for key, value in echoed.items() if value is not None}
    ours = {key: value for key, value in sent.items() if value is not None}
    if "generation_type" not in ours:
        theirs.pop("generation_type", None)
    return theirs == ours


def created_at(generation: Mapping[str, Any]) -> float | None:
    """
    When Luma says ``generation`` was created, in epoch seconds (None when it does not say).

    :param generation: a generation object.
    """
    timestamp = generation.get("created_at")
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
