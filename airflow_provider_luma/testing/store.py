"""
The emulator's generations and credit balance, safe to use from any thread.

The ledger is the account's: Agents API generations (kept by :mod:`.agents_store`) are charged
and refunded here too (:meth:`GenerationStore.admit`), and counted in flight.

Credits are charged when a generation is created and refunded once it is seen to have failed:
generations not yet final sit in an "unsettled" list that each balance or limit check walks,
so the cost of a check grows with the generations in flight, not with all ever created.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from airflow_provider_luma.testing import catalog
from airflow_provider_luma.testing.errors import ApiError, not_found
from airflow_provider_luma.testing.generations import (
    COMPLETED,
    FAILED,
    STUCK,
    TERMINAL_STATES,
    GenerationRecord,
)
from airflow_provider_luma.testing.ratelimits import RateLimiter

if TYPE_CHECKING:
    from airflow_provider_luma.testing.config import EmulatorConfig
    from airflow_provider_luma.testing.validation import CreateSpec

BLOCKED_REASON = "Contains blacklisted words"
MODERATION_REASON = "Advanced prompt moderation failed"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class GenerationStore:
    """
    All generations, the credit ledger and the rate limiter, behind one lock.

    :param config: the settings new generations are created with.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.Lock()
        self.config = config
        self._reset_locked(config)

    def _reset_locked(self, config: EmulatorConfig) -> None:
        self.config = config
        self._by_id: dict[str, GenerationRecord] = {}
        self._order: list[GenerationRecord] = []
        self._unsettled: list[GenerationRecord] = []
        self._balance_base = float(config.credits)
        self._spent = 0.0
        self._refunded = 0.0
        self._rng = random.Random(config.seed + 1)
        self._limiter = RateLimiter()
        self._max_in_flight = 0

    def reset(self, config: EmulatorConfig) -> None:
        """
        Forget every generation and restore the starting balance of ``config``.

        :param config: the settings to start again with.
        """
        with self._lock:
            self._reset_locked(config)

    def set_config(
        self, config: EmulatorConfig, credits_changed: bool = False, seed_changed: bool = False
    ) -> None:
        """
        Use new settings for generations created from now on.

        :param config: the new settings.
        :param credits_changed: set the balance to ``config.credits`` now.
        :param seed_changed: reseed the stuck/moderation draws.
        """
        with self._lock:
            self.config = config
            if credits_changed:
                self._settle(time.monotonic())
                self._balance_base = float(config.credits) + self._spent - self._refunded
            if seed_changed:
                self._rng = random.Random(config.seed + 1)

    # -- ledger ---------------------------------------------------------------------------------

    def _settle(self, now: float) -> None:
        still = []
        for record in self._unsettled:
            state = record.state(now)
            if state in TERMINAL_STATES:
                record.settled = state
                if state == FAILED:
                    self._refunded += record.cost
            else:
                still.append(record)
        self._unsettled = still

    def balance(self) -> float:
        """Return the credit balance now, in cents."""
        with self._lock:
            self._settle(time.monotonic())
            return round(self._balance_base - self._spent + self._refunded, 4)

    # -- creation -------------------------------------------------------------------------------

    def _source(self, source_id: str, action: str) -> GenerationRecord:
        source = self._by_id.get(source_id)
        if source is None:
            raise not_found()
        if source.family != "video":
            raise ApiError(400, f"Generation {source_id} is an image; only videos can be {action}")
        state = source.state(time.monotonic())
        if state != COMPLETED:
            raise ApiError(400, f"Generation {source_id} is {state}; only completed videos can be {action}")
        return source

    def _check_references(self, spec: CreateSpec, now: float) -> None:
        for field_name, ref_id in spec.references:
            ref = self._by_id.get(ref_id)
            if ref is None:
                raise ApiError(400, f"{field_name}: generation {ref_id} not found")
            if ref.family != "video":
                raise ApiError(400, f"{field_name}: generation {ref_id} is not a video")
            state = ref.state(now)
            if state != COMPLETED:
                raise ApiError(400, f"{field_name}: generation {ref_id} is {state}, not completed")

    def _outcome(self, prompt: str | None) -> tuple[str, str | None, bool]:
        """Return (outcome, failure reason, fails in queue) for a new generation."""
        config = self.config
        text = (prompt or "").lower()
        if any(word.lower() in text for word in config.blocked_words if word):
            return FAILED, BLOCKED_REASON, True
        if any(word.lower() in text for word in config.stuck_words if word):
            return STUCK, None, False
        if config.stuck_rate and self._rng.random() < config.stuck_rate:
            return STUCK, None, False
        if config.moderation_failure_rate and self._rng.random() < config.moderation_failure_rate:
            return FAILED, MODERATION_REASON, False
        return COMPLETED, None, False

    def _check_limits(self, family: str, now: float) -> None:
        running = [r for r in self._unsettled if r.family == family and not r.deleted]
        finishes = [t for t in (r.finishes_at() for r in running) if t is not None]
        self._limiter.check(
            family,
            now,
            len(running),
            min(finishes) if finishes else None,
            self.config.concurrency_limits.get(family, 10**9),
            self.config.creates_per_minute.get(family, 10**9),
        )

    def create(
        self, spec: CreateSpec, source_id: str | None = None, *, other_user: bool = False
    ) -> GenerationRecord:
        """
        Create a generation from a validated request, or raise the ``ApiError`` the API would.

        :param spec: the validated request.
        :param source_id: the video to upscale or add audio to, for those kinds.
        :param other_user: made by another user of the account (the ``traffic`` fault): paid for,
            but never held back by the rate limits.
        """
        family = catalog.FAMILY_OF_KIND[spec.kind]
        with self._lock:
            now = time.monotonic()
            model, prompt, aspect = spec.model, spec.prompt, spec.aspect_ratio
            if source_id is not None:
                source = self._source(
                    source_id, "upscaled" if spec.kind == "upscale_video" else "given audio"
                )
                model, aspect = source.model, source.aspect_ratio
                prompt = prompt or source.prompt
            self._check_references(spec, now)
            self._settle(now)
            if self.config.rate_limits and not other_user:
                self._check_limits(family, now)
            cost = catalog.price_cents(spec.kind, model or "", spec.resolution, spec.duration)
            if self._balance_base - self._spent + self._refunded < cost:
                raise ApiError(402, "Insufficient credits: add credits to your Luma account")
            generation_id = str(uuid.uuid4())
            low, high = self.config.dreaming_range()
            dreaming = low if low == high else random.Random(generation_id).uniform(low, high)
            outcome, reason, in_queue = self._outcome(spec.prompt)
            record = GenerationRecord(
                id=generation_id,
                kind=spec.kind,
                family=family,
                model=model or "",
                request=spec.request,
                created_at=_now_iso(),
                started=now,
                queued_s=float(self.config.queued_seconds),
                dreaming_s=dreaming,
                outcome=outcome,
                failure_reason=reason,
                fails_in_queue=in_queue,
                cost=cost,
                prompt=prompt,
                aspect_ratio=aspect,
                image_format=spec.image_format if family == "image" else "jpg",
                callback_url=spec.callback_url,
            )
            self._by_id[generation_id] = record
            self._order.append(record)
            self._unsettled.append(record)
            in_flight = sum(1 for r in self._unsettled if not r.deleted)
            self._max_in_flight = max(self._max_in_flight, in_flight)
            self._spent += cost
            self._limiter.record(family, now)
            return record

    def admit(
        self, record: GenerationRecord, limits: tuple[int, int] | None = None, label: str | None = None
    ) -> int:
        """
        Enter a generation made through another API (the Agents API) on this account's ledger:
        charge its cost now (refunded if it fails, as its own are), count it in flight, or raise
        the ``ApiError`` the API would (429 over ``limits``, 402 when the balance is short).

        :param record: the new generation; its ``family`` names its rate-limit window.
        :param limits: ``(running, creates per minute)`` allowed in its family, or None for no limit.
        :param label: what the 429 messages call its generations.
        :return: the creates of its family in the last 60 s, this one included.
        """
        with self._lock:
            now = time.monotonic()
            self._settle(now)
            if limits is not None:
                running = [r for r in self._unsettled if r.family == record.family and not r.deleted]
                finishes = [t for t in (r.finishes_at() for r in running) if t is not None]
                first = min(finishes) if finishes else None
                self._limiter.check(record.family, now, len(running), first, limits[0], limits[1], label)
            if self._balance_base - self._spent + self._refunded < record.cost:
                raise ApiError(402, "Insufficient credits: add credits to your Luma account")
            self._unsettled.append(record)
            in_flight = sum(1 for r in self._unsettled if not r.deleted)
            self._max_in_flight = max(self._max_in_flight, in_flight)
            self._spent += record.cost
            self._limiter.record(record.family, now)
            return self._limiter.used(record.family, now)

    @property
    def max_in_flight(self) -> int:
        """The most generations queued or dreaming at once (counted as each was created)."""
        return self._max_in_flight

    # -- reading and changing -------------------------------------------------------------------

    def get(self, generation_id: str) -> GenerationRecord:
        """
        Return a live generation, or raise 404.

        :param generation_id: the generation id (normalised UUID).
        """
        record = self._by_id.get(generation_id)
        if record is None:
            raise not_found()
        return record

    def delete(self, generation_id: str) -> None:
        """
        Delete a generation (its charge stays), or raise 404.

        :param generation_id: the generation id.
        """
        with self._lock:
            record = self._by_id.pop(generation_id, None)
            if record is None:
                raise not_found()
            record.deleted = True
            self._order.remove(record)

    def page(self, limit: int, offset: int) -> tuple[list[GenerationRecord], bool]:
        """
        Return listed generations newest first, and whether more follow.

        A generation is listed ``listing_delay`` seconds after its creation.

        :param limit: the most to return.
        :param offset: how many of the newest to skip.
        """
        with self._lock:
            listed = self._order
            if self.config.listing_delay:
                shown_before = time.monotonic() - self.config.listing_delay
                listed = [record for record in listed if record.started <= shown_before]
            end = max(0, len(listed) - offset)
            start = max(0, end - limit)
            return listed[start:end][::-1], start > 0

    def records(self) -> list[GenerationRecord]:
        """Return live generations, oldest first."""
        with self._lock:
            return list(self._order)

    def force(self, generation_id: str, state: str, reason: str | None = None) -> GenerationRecord:
        """
        Put a generation in ``state`` now and settle its credits accordingly.

        :param generation_id: the generation id.
        :param state: ``completed`` or ``failed``.
        :param reason: the failure reason, for ``failed``.
        """
        with self._lock:
            record = self._by_id.get(generation_id)
            if record is None:
                raise KeyError(f"no generation {generation_id}")
            self._force_locked(record, state, reason)
            return record

    def force_record(self, record: GenerationRecord, state: str, reason: str | None = None) -> None:
        """
        Put a generation kept elsewhere (an Agents one, see :meth:`admit`) in ``state`` now and
        settle its credits accordingly.

        :param record: the generation.
        :param state: ``completed`` or ``failed``.
        :param reason: the failure reason, for ``failed``.
        """
        with self._lock:
            self._force_locked(record, state, reason)

    def _force_locked(self, record: GenerationRecord, state: str, reason: str | None) -> None:
        record.force(state, reason)
        if record.settled is not None and record.settled != state:
            self._refunded += record.cost if state == FAILED else -record.cost
            record.settled = state
