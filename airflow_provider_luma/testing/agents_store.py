"""
The Agents API's generations, safe to use from any thread.

A create resolves the request's media references (files of :mod:`.agents_files`, earlier
completed generations), decides the generation's fate (:class:`~.agents_fates.AgentsFailureRule`
s first, then the Dream Machine side's ``blocked_words``, ``stuck_words``, ``stuck_rate`` and
``moderation_failure_rate``), and enters it on the account's ledger
(:meth:`.store.GenerationStore.admit`): charged now, refunded if it fails, limited by
``agents_concurrent_jobs`` and ``agents_requests_per_minute`` when ``rate_limits`` is on, and
counted in flight with the Dream Machine's generations. There is no list and no delete.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from airflow_provider_luma.testing.agents_catalog import VIDEO_TYPES
from airflow_provider_luma.testing.agents_fates import AgentsFates, FatePick
from airflow_provider_luma.testing.agents_generations import AGENTS_FAMILY, PROCESSING, AgentsGenerationRecord
from airflow_provider_luma.testing.errors import ApiError
from airflow_provider_luma.testing.generations import COMPLETED, DREAMING, FAILED, STUCK
from airflow_provider_luma.testing.store import BLOCKED_REASON, MODERATION_REASON

if TYPE_CHECKING:
    from airflow_provider_luma.testing.agents_files import AgentFileStore
    from airflow_provider_luma.testing.agents_validation import AgentsSpec, RefUse
    from airflow_provider_luma.testing.config import EmulatorConfig
    from airflow_provider_luma.testing.store import GenerationStore

#: What the 429 messages call Agents generations.
RATE_LIMIT_LABEL = "Agents API"
#: The types whose one image output an image position can reference by ``generation_id``.
SINGLE_IMAGE_TYPES = ("image", "image_edit")


def not_found() -> ApiError:
    """The answer for an unknown Agents generation id."""
    return ApiError(404, "Generation not found")


class AgentsStore:
    """
    All Agents API generations and their fates, behind one lock (taken before the ledger's and
    the files' locks, never after).

    :param config: the settings new generations are created with.
    :param ledger: the account's ledger (the Dream Machine side's store).
    :param files: the Agents API's files, which requests may reference.
    """

    def __init__(self, config: EmulatorConfig, ledger: GenerationStore, files: AgentFileStore) -> None:
        self._lock = threading.Lock()
        self.ledger = ledger
        self.files = files
        self.reset(config)

    def reset(self, config: EmulatorConfig) -> None:
        """
        Forget every generation and restart the fates.

        :param config: the settings to start again with.
        """
        with self._lock:
            self.config = config
            self._by_id: dict[str, AgentsGenerationRecord] = {}
            self._order: list[AgentsGenerationRecord] = []
            self._fates = AgentsFates(config.agents_failures)
            self._rng = random.Random(config.seed + 2)

    def set_config(
        self, config: EmulatorConfig, fates_changed: bool = False, seed_changed: bool = False
    ) -> None:
        """
        Use new settings for generations created from now on.

        :param config: the new settings.
        :param fates_changed: load its ``agents_failures`` (their counters restart).
        :param seed_changed: reseed the stuck/moderation draws.
        """
        with self._lock:
            self.config = config
            if fates_changed:
                self._fates.load(config.agents_failures)
            if seed_changed:
                self._rng = random.Random(config.seed + 2)

    # -- creation -------------------------------------------------------------------------------

    def _check_generation(self, use: RefUse, generation_id: str, now: float) -> None:
        where = f"{use.where}.generation_id"
        record = self._by_id.get(generation_id)
        if record is None:
            raise ApiError(422, f"{where}: generation {generation_id} not found")
        state = record.state(now)
        if state != COMPLETED:
            shown = PROCESSING if state == DREAMING else state
            raise ApiError(422, f"{where}: generation {generation_id} is {shown}, not completed")
        if record.kind not in (VIDEO_TYPES if use.media == "video" else SINGLE_IMAGE_TYPES):
            raise ApiError(
                422,
                f"{where}: generation {generation_id} is a {record.kind} generation; "
                f"a {use.media} output is needed here",
            )

    def _resolve(self, spec: AgentsSpec, now: float) -> None:
        """Check every file and generation the request references, or raise the 422."""
        for use in spec.refs:
            if use.ref.file_id is not None:
                self.files.usable(f"{use.where}.file_id", str(uuid.UUID(use.ref.file_id)), use.media)
            elif use.ref.generation_id is not None:
                self._check_generation(use, str(uuid.UUID(use.ref.generation_id)), now)

    def _outcome(self, spec: AgentsSpec, pick: FatePick) -> tuple[str, str | None, str | None, bool]:
        """Return (outcome, failure code, failure reason, fails in queue) for a new generation."""
        config = self.config
        rule = pick.rule
        if rule is not None:
            return FAILED, rule.failure_code, rule.failure_reason, rule.in_queue
        text = spec.prompt.lower()
        if any(word.lower() in text for word in config.blocked_words if word):
            return FAILED, "content_moderated", BLOCKED_REASON, True
        if any(word.lower() in text for word in config.stuck_words if word):
            return STUCK, None, None, False
        if config.stuck_rate and self._rng.random() < config.stuck_rate:
            return STUCK, None, None, False
        if config.moderation_failure_rate and self._rng.random() < config.moderation_failure_rate:
            return FAILED, "content_moderated", MODERATION_REASON, False
        return COMPLETED, None, None, False

    def create(self, spec: AgentsSpec) -> tuple[AgentsGenerationRecord, int]:
        """
        Create a generation from a validated request, or raise the ``ApiError`` the API would.

        :param spec: the validated request.
        :return: the generation, and the creates of the last 60 s (this one included).
        """
        with self._lock:
            config = self.config
            now = time.monotonic()
            self._resolve(spec, now)
            pick = self._fates.peek(spec.prompt, spec.type)
            outcome, code, reason, in_queue = self._outcome(spec, pick)
            generation_id = str(uuid.uuid4())
            low, high = config.dreaming_range()
            record = AgentsGenerationRecord(
                id=generation_id,
                kind=spec.type,
                family=AGENTS_FAMILY,
                model=spec.model,
                request={},
                created_at=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                started=now,
                queued_s=float(config.queued_seconds),
                dreaming_s=low if low == high else random.Random(generation_id).uniform(low, high),
                outcome=outcome,
                failure_reason=reason,
                fails_in_queue=in_queue,
                cost=spec.cost,
                prompt=spec.prompt,
                aspect_ratio=spec.aspect_ratio,
                image_format=spec.image_format,
                failure_code=code,
            )
            limits = (config.agents_concurrent_jobs, config.agents_requests_per_minute)
            used = self.ledger.admit(record, limits if config.rate_limits else None, RATE_LIMIT_LABEL)
            self._fates.commit(pick)
            self._by_id[generation_id] = record
            self._order.append(record)
            return record, used

    # -- reading and changing -------------------------------------------------------------------

    def get(self, generation_id: str) -> AgentsGenerationRecord:
        """
        Return a generation, or raise 404 (an id that is not a UUID is unknown too).

        :param generation_id: the generation id.
        """
        try:
            key = str(uuid.UUID(generation_id))
        except ValueError:
            raise not_found() from None
        record = self._by_id.get(key)
        if record is None:
            raise not_found()
        return record

    def records(self) -> list[AgentsGenerationRecord]:
        """Return every generation, oldest first."""
        with self._lock:
            return list(self._order)

    def force(
        self, generation_id: str, state: str, reason: str | None = None, failure_code: str | None = None
    ) -> AgentsGenerationRecord:
        """
        Put a generation in ``state`` now and settle its credits accordingly.

        :param generation_id: the generation id.
        :param state: ``completed`` or ``failed``.
        :param reason: the failure reason, for ``failed`` (default: the code's usual one).
        :param failure_code: the failure code, for ``failed`` (default ``generation_failed``).
        :raises KeyError: if there is no such generation.
        """
        record = self._by_id.get(generation_id)
        if record is None:
            raise KeyError(f"no Agents generation {generation_id}")
        with self._lock:
            record.forced_code = failure_code if state == FAILED else None
            self.ledger.force_record(record, state, reason)
        return record
