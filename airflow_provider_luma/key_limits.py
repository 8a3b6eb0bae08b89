"""
Luma's limits on one API key, kept by every task that uses the key, wherever it runs, before it
creates: not by leaning on 429 answers.

Luma counts, per family (image, video), the generations of a key running at once and the creates
it took in the last minute. Airflow's pools cannot hold back the tasks that start on the triggerer,
and workers and triggerers share no store the provider can lock. Luma itself is the one place all
of them (and any other client of the key) see: before a create, the flow reads the key's newest
generations (one page of ``GET /generations``) and counts those of the family still running and
those created in the last minute (:func:`wait_for_room`). When the key is full it waits and reads
again; a page read less than a second ago is shared by the waits of one process, so many waiting
tasks on one triggerer cost one read a second.

Within one process (a triggerer runs all its triggers on one event loop) the creates it let go and
Luma does not list yet count too (:class:`KeyRoom`), so its tasks never race each other for the
last place. Two processes can still race in the moment between a read and a create; the one that
then gets a 429 waits it out as before (a 429 creates nothing).

The limits are the Build tier's unless the connection's extra says otherwise::

    {"limits": {"image": {"in_flight": 100, "creates_per_minute": 200}}}
    {"limits": false}    # not kept: every create is sent at once, 429s are waited out

The extra is read by hand, not with a schema library: pydantic is not a dependency of the provider
on Airflow 2.11, and the rules fit in one function.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.adoption import created_at
from airflow_provider_luma.batches import TIER_LIMITS
from airflow_provider_luma.effects import Call, Sleep
from airflow_provider_luma.exceptions import LumaConnectionConfigError, LumaError, LumaTimeoutError
from airflow_provider_luma.generations import TERMINAL_STATES

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_luma.effects import Flow

#: Generations one read of the key's list brings (Luma's newest first).
LISTING_PAGE = 100
#: A read of the list this recent serves every wait of the process.
LISTING_REUSE_SECONDS = 1.0
#: Seconds between two reads while the key has its most generations running (when one ends is
#: not known in advance); each wait is stretched by up to a quarter, so waiters do not wake as one.
RECHECK_SECONDS = 2.0
#: Luma's window for creates per minute, and the margin a wait keeps past it.
MINUTE_SECONDS = 60.0
MINUTE_MARGIN_SECONDS = 0.5
#: The longest the list read may take before the create goes ahead without it.
LISTING_CALL_SECONDS = 20.0
#: How long a generation this process created counts as running while Luma does not list it (a
#: list read late); past that it is taken as deleted (a deleted generation leaves Luma's list).
LISTING_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class FamilyLimits:
    """
    Luma's limits on one family of a key.

    :param in_flight: generations queued or dreaming at once.
    :param creates_per_minute: creates in any 60 s.
    """

    in_flight: int
    creates_per_minute: int


@dataclass(frozen=True)
class KeyLimits:
    """
    The limits a key's tasks keep, per family (a family missing from ``families`` is not kept).

    :param families: the limits of ``"image"`` and ``"video"``.
    """

    families: Mapping[str, FamilyLimits] = field(
        default_factory=lambda: {family: FamilyLimits(*limits) for family, limits in TIER_LIMITS.items()}
    )

    @classmethod
    def of_extra(cls, extra: Mapping[str, Any], conn_id: str) -> KeyLimits:
        """
        The limits a connection's extra gives (``limits``), over the Build tier's.

        :param extra: the connection's extra, decoded.
        :param conn_id: the connection, named in errors.
        :raises LumaConnectionConfigError: ``limits`` is neither false nor a mapping of families to
            positive whole ``in_flight`` and ``creates_per_minute``.
        """
        value = extra.get("limits", True)
        if value is True or value is None:
            return cls()
        if value is False:
            return cls({})
        where = f"Airflow connection {conn_id!r}: extra 'limits'"
        if not isinstance(value, dict) or not set(value) <= set(TIER_LIMITS):
            raise LumaConnectionConfigError(
                f"{where} must be false or a mapping with keys 'image' and/or 'video'; got {value!r}"
            )
        families = dict(cls().families)
        for family, given in value.items():
            if not isinstance(given, dict) or not set(given) <= {"in_flight", "creates_per_minute"}:
                raise LumaConnectionConfigError(
                    f"{where}[{family!r}] must be a mapping of 'in_flight' and/or 'creates_per_minute'; "
                    f"got {given!r}"
                )
            for name, number in given.items():
                if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                    raise LumaConnectionConfigError(
                        f"{where}[{family!r}][{name!r}] must be a whole number of at least 1; got {number!r}"
                    )
            families[family] = FamilyLimits(
                given.get("in_flight", families[family].in_flight),
                given.get("creates_per_minute", families[family].creates_per_minute),
            )
        return cls(families)


#: The Agents API's generation types that make images (its creates all go to ``/generations``).
AGENTS_IMAGE_TYPES = ("image", "image_edit", "layering")


def family_of_path(path: str, body: Mapping[str, Any] | None = None) -> str:
    """
    The family a create's generation counts against.

    :param path: the create endpoint, relative to the base URL.
    :param body: the create's body: on the Agents API its ``type`` says.
    """
    if path == "/generations" and isinstance(body, Mapping):
        return "image" if body.get("type", "image") in AGENTS_IMAGE_TYPES else "video"
    return "image" if path.startswith("/generations/image") else "video"


def family_of_generation(generation: Mapping[str, Any]) -> str:
    """
    The family of a generation Luma lists (by its model; else by its type).

    :param generation: a generation object.
    """
    model = generation.get("model")
    if isinstance(model, str) and model:
        return "image" if model.startswith(("photon", "uni-")) else "video"
    return "image" if generation.get("generation_type") == "image" else "video"


@dataclass
class _LetGo:
    """A create this process let go: its family, when, and the generation once Luma answered."""

    family: str
    at: float
    generation_id: str | None = None
    answered_at: float = 0.0

    def running_unlisted(self, listed: set[str], now: float) -> bool:
        """Whether it counts as running though the list read does not show it."""
        if self.generation_id is None:  # being created: it may run already
            return True
        return self.generation_id not in listed and now - self.answered_at < LISTING_GRACE_SECONDS


class KeyRoom:
    """
    What one process knows of a key's room: the last read of Luma's list, and the creates it let go.

    :param limits: the limits to keep.
    """

    def __init__(self, limits: KeyLimits) -> None:
        self.limits = limits
        self._listing: list[Any] = []
        self._listed_at = float("-inf")
        self._let_go: dict[int, _LetGo] = {}
        self._tokens = itertools.count()
        # A worker's threads may share a hook (and so the room): its counts change under a lock.
        self._lock = threading.Lock()

    def keeps(self, family: str) -> bool:
        """
        Whether ``family``'s limits are kept.

        :param family: ``"image"`` or ``"video"``.
        """
        return family in self.limits.families

    def listing_is_fresh(self, now: float) -> bool:
        """
        Whether the last read of the list can serve a wait at ``now``.

        :param now: epoch seconds.
        """
        return now - self._listed_at <= LISTING_REUSE_SECONDS

    def listed(self, page: Any, now: float) -> None:
        """
        Keep a read of the list (a page that is not one counts as empty).

        :param page: Luma's answer to ``GET /generations``.
        :param now: epoch seconds of the read.
        """
        generations = page.get("generations") if isinstance(page, dict) else None
        with self._lock:
            self._listing = generations if isinstance(generations, list) else []
            self._listed_at = now

    def let_go(self, family: str, now: float) -> tuple[int | None, float]:
        """
        Let a create of ``family`` go at ``now`` if the key has room: ``(token, 0)``, the token for
        :meth:`created` or :meth:`not_created`; else ``(None, seconds to wait before asking again)``.

        :param family: ``"image"`` or ``"video"``.
        :param now: epoch seconds.
        """
        with self._lock:
            return self._let_go_locked(family, now)

    def _let_go_locked(self, family: str, now: float) -> tuple[int | None, float]:
        limits = self.limits.families[family]
        running, recent = self._count(family, now)
        wait = 0.0
        if len(recent) >= limits.creates_per_minute:
            recent.sort()
            oldest_to_leave = recent[len(recent) - limits.creates_per_minute]
            wait = oldest_to_leave + MINUTE_SECONDS + MINUTE_MARGIN_SECONDS - now
        if running >= limits.in_flight:
            wait = max(wait, RECHECK_SECONDS)
        if wait > 0:
            return None, wait * random.uniform(1.0, 1.25)
        token = next(self._tokens)
        self._let_go[token] = _LetGo(family, now)
        return token, 0.0

    def created(self, token: int, generation_id: str) -> None:
        """
        The create let go with ``token`` made ``generation_id``.

        :param token: from :meth:`let_go`.
        :param generation_id: the generation.
        """
        with self._lock:
            if token in self._let_go:
                self._let_go[token].generation_id = generation_id
                self._let_go[token].answered_at = time.time()

    def not_created(self, token: int) -> None:
        """
        The create let go with ``token`` made nothing (a 429, a refusal): its place is free again.

        :param token: from :meth:`let_go`.
        """
        with self._lock:
            self._let_go.pop(token, None)

    def _count(self, family: str, now: float) -> tuple[int, list[float]]:
        """The family's generations running, and the times of its creates in the last minute."""
        for token in [t for t, go in self._let_go.items() if now - go.at >= MINUTE_SECONDS]:
            del self._let_go[token]
        listed: set[str] = set()
        running, recent = 0, []
        for generation in self._listing:
            if not isinstance(generation, dict) or family_of_generation(generation) != family:
                continue
            generation_id = generation.get("id")
            if isinstance(generation_id, str):
                listed.add(generation_id)
            if generation.get("state") not in TERMINAL_STATES:
                running += 1
            made_at = created_at(generation)
            if made_at is not None and made_at > now - MINUTE_SECONDS:
                recent.append(made_at)
        # Let go here and not listed (being created, or listed late): in the minute, maybe running.
        for go in self._let_go.values():
            if go.family != family or go.generation_id in listed:
                continue
            recent.append(go.at)
            running += go.running_unlisted(listed, now)
        return running, recent


@dataclass(frozen=True)
class Place:
    """
    A create's place in its key's room, from :func:`wait_for_room`.

    :param room: the room.
    :param token: the place's token in it.
    """

    room: KeyRoom
    token: int

    def created(self, generation_id: str) -> None:
        """
        The create made ``generation_id``.

        :param generation_id: the generation.
        """
        self.room.created(self.token, generation_id)

    def free(self) -> None:
        """The create made nothing (a 429, a refusal)."""
        self.room.not_created(self.token)


_ROOMS: dict[str, KeyRoom] = {}


def room_for(base_url: str, api_key: str, limits: KeyLimits) -> KeyRoom:
    """
    This process's room of a key (one per key and base URL, whichever connection names them).

    :param base_url: the API's base URL.
    :param api_key: the key (only a digest of it is kept).
    :param limits: the limits to keep (the latest connection read wins).
    """
    digest = hashlib.sha256(f"{base_url}\0{api_key}".encode()).hexdigest()
    room = _ROOMS.get(digest)
    if room is None:
        room = _ROOMS[digest] = KeyRoom(limits)
    room.limits = limits
    return room


def wait_for_room(room: KeyRoom, family: str, deadline: float, log: Logger) -> Flow:
    """
    Wait until the key has room for one more create of ``family``; return its :class:`Place`
    (None when the family's limits are not kept).

    A read of the list that fails lets the create go on what this process knows: a create is
    never held back because the list could not be read (its 429, if any, is waited out).

    :param room: the key's room in this process.
    :param family: ``"image"`` or ``"video"``.
    :param deadline: epoch seconds the task must be done by.
    :param log: the task's logger.
    """
    if not room.keeps(family):
        return None
    waited_since: float | None = None
    while True:
        now = time.time()
        if not room.listing_is_fresh(now):
            try:
                page = yield Call(
                    "GET", "/generations", params={"limit": LISTING_PAGE}, deadline=now + LISTING_CALL_SECONDS
                )
            except LumaError as exc:
                log.warning("Could not read Luma's list to count the key's generations: %s", exc)
                page = None
            now = time.time()
            room.listed(page, now)
        token, wait = room.let_go(family, now)
        if token is not None:
            if waited_since is not None:
                log.info("The key has room again after %.1f s", now - waited_since)
            return Place(room, token)
        if now + wait > deadline:
            raise LumaTimeoutError(
                f"The Luma key stayed at its {family} limits ({room.limits.families[family]}) until the "
                "task's timeout; raise the limits in the connection's extra if the key's tier allows more"
            )
        if waited_since is None:
            waited_since = now
            log.info(
                "The Luma key is at its %s limits (%s): waiting for room before creating",
                family,
                room.limits.families[family],
            )
        yield Sleep(wait, rate_limited=True)
