"""
The emulator's state and operations, independent of HTTP: what both the web app and the
Python control API (:class:`~.server.LumaEmulator`) act on, for the Dream Machine API and the
Agents API alike (one account: one ledger, one set of settings, faults and stats).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.testing.agents_catalog import FAILURE_CODES
from airflow_provider_luma.testing.agents_files import OWN, AgentFileStore
from airflow_provider_luma.testing.agents_store import AgentsStore
from airflow_provider_luma.testing.assets import PictureCache
from airflow_provider_luma.testing.callbacks import CallbackScheduler
from airflow_provider_luma.testing.errors import ApiError
from airflow_provider_luma.testing.faults import FaultInjector
from airflow_provider_luma.testing.generations import COMPLETED, FAILED
from airflow_provider_luma.testing.stats import StatsRecorder
from airflow_provider_luma.testing.store import GenerationStore

if TYPE_CHECKING:
    from airflow_provider_luma.testing.agents_files import FileRecord
    from airflow_provider_luma.testing.agents_generations import AgentsGenerationRecord
    from airflow_provider_luma.testing.agents_validation import AgentsSpec, FileSpec
    from airflow_provider_luma.testing.config import EmulatorConfig
    from airflow_provider_luma.testing.generations import GenerationRecord
    from airflow_provider_luma.testing.validation import CreateSpec


class EmulatorCore:
    """
    Config, generations, credits, faults, stats and callbacks of one emulator.

    :param api_key: the only API key accepted.
    :param config: the starting settings; :meth:`reset` returns to them.
    """

    def __init__(self, api_key: str, config: EmulatorConfig) -> None:
        self.api_key = api_key
        self.initial_config = config
        self.config = config
        #: scheme://host:port of the server, for asset URLs sent in callbacks and listings.
        self.own_url = "http://127.0.0.1"
        self.stats = StatsRecorder()
        self.store = GenerationStore(config)
        self.agent_files = AgentFileStore(config)
        self.agents = AgentsStore(config, self.store, self.agent_files)
        self.faults = FaultInjector(config.faults, config.seed)
        self.pictures = PictureCache()
        self.callbacks = CallbackScheduler(self._callback_payload, self.stats.callback)

    def asset_base(self, host: str | None = None, scheme: str = "http") -> str:
        """
        Return the scheme://host[:port] asset URLs start with.

        :param host: the ``Host`` header of the request being answered, if any.
        :param scheme: the request's scheme.
        """
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"{scheme}://{host}" if host else self.own_url

    def configure(self, **changes: Any) -> EmulatorConfig:
        """
        Change some settings now (see :class:`~.config.EmulatorConfig` for the names).

        Timings apply to generations created afterwards; ``faults`` replaces the rules and
        restarts their counters; ``credits`` sets the balance now.

        :param changes: setting names and values.
        """
        config = self.config.updated(**changes)
        self.config = config
        self.store.set_config(config, credits_changed="credits" in changes, seed_changed="seed" in changes)
        self.agents.set_config(
            config, fates_changed="agents_failures" in changes, seed_changed="seed" in changes
        )
        self.agent_files.set_config(config)
        if "faults" in changes or "seed" in changes:
            self.faults.load(config.faults, config.seed)
        return config

    def reset(self) -> None:
        """Return to the state right after start: starting settings, no generations, zero stats."""
        self.config = self.initial_config.updated()  # a copy: nothing done to it leaks into the next reset
        self.callbacks.clear()
        self.store.reset(self.config)
        self.agents.reset(self.config)
        self.agent_files.reset(self.config)
        self.faults.load(self.config.faults, self.config.seed)
        self.pictures.clear()
        self.stats.reset()

    def create(self, spec: CreateSpec, source_id: str | None = None) -> GenerationRecord:
        """
        Create a generation (see :meth:`.store.GenerationStore.create`) and schedule its callbacks.

        :param spec: the validated request.
        :param source_id: the source video for upscale/audio.
        """
        record = self.store.create(spec, source_id)
        self.stats.created(self.store.max_in_flight)
        if record.callback_url:
            self.callbacks.schedule(record.id, record.callback_url, [t for t, _ in record.transitions()])
        return record

    def create_agents(self, spec: AgentsSpec) -> tuple[AgentsGenerationRecord, int]:
        """
        Create an Agents API generation (see :meth:`.agents_store.AgentsStore.create`) and count it.

        :param spec: the validated request.
        :return: the generation, and the Agents creates of the last 60 s (this one included).
        """
        record, used = self.agents.create(spec)
        self.stats.agents_created(self.store.max_in_flight)
        return record, used

    def create_agents_file(self, spec: FileSpec, data: bytes | None = None, owner: str = OWN) -> FileRecord:
        """
        Create an Agents API file: with a presigned upload, or with its bytes (inline).

        :param spec: the validated request.
        :param data: the bytes of an inline upload (probed here: call from a worker thread).
        :param owner: whose file it is (default: the API key's).
        """
        files = self.agent_files
        record = files.create(spec, owner) if data is None else files.create_inline(spec, data, owner)
        self.stats.agents_file_created()
        return record

    def add_traffic(self, count: int) -> None:
        """
        The account's other users create ``count`` image generations now (the ``traffic`` fault).

        :param count: how many.
        """
        from airflow_provider_luma.testing.validation import validate_image

        for number in range(count):
            spec = validate_image({"model": "photon-1", "prompt": f"another user's picture {number}"})
            self.store.create(spec, other_user=True)

    def force(
        self, generation_id: str, state: str, reason: str | None = None, failure_code: str | None = None
    ) -> None:
        """
        Force a generation's state now (and notify its callback URL): a Dream Machine one, or else
        an Agents API one.

        :param generation_id: the generation id.
        :param state: ``completed`` or ``failed``.
        :param reason: the failure reason, for ``failed`` (default: ``"Job failed"`` for a Dream
            Machine generation, the code's usual reason for an Agents one).
        :param failure_code: the ``failure_code`` of a failed Agents generation (default
            ``generation_failed``); a Dream Machine generation has none.
        :raises KeyError: if neither API has this generation.
        """
        if state not in (COMPLETED, FAILED):
            raise ValueError(f"state must be {COMPLETED!r} or {FAILED!r}; got {state!r}")
        if failure_code is not None and failure_code not in FAILURE_CODES:
            raise ValueError(f"failure_code must be one of {', '.join(FAILURE_CODES)}; got {failure_code!r}")
        failed = state == FAILED
        try:
            record = self.store.get(generation_id)
        except ApiError:
            self.agents.force(generation_id, state, reason if failed else None, failure_code)
            return
        if failure_code is not None:
            raise ValueError("failure_code applies to Agents API generations only")
        record = self.store.force(generation_id, state, (reason or "Job failed") if failed else None)
        if record.callback_url:
            self.callbacks.notify_now(record.id, record.callback_url)

    def generation_dicts(self) -> list[dict[str, Any]]:
        """Return a fresh copy of every live generation object, oldest first."""
        now = time.monotonic()
        base = self.asset_base()
        return [json.loads(record.render(now, base)[1]) for record in self.store.records()]

    def agents_generation_dicts(self) -> list[dict[str, Any]]:
        """Return a fresh copy of every Agents API generation object, oldest first."""
        now = time.monotonic()
        base = self.asset_base()
        return [json.loads(record.render(now, base)[1]) for record in self.agents.records()]

    def agents_file_dicts(self, owner: str | None = None) -> list[dict[str, Any]]:
        """
        Return every Agents API file object, oldest first.

        :param owner: only this owner's (default: every owner's).
        """
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        records = self.agent_files.records()
        return [r.to_dict(now, wall) for r in records if owner is None or r.owner == owner]

    def _callback_payload(self, generation_id: str) -> tuple[str, bytes] | None:
        try:
            record = self.store.get(generation_id)
        except Exception:
            return None
        data, body = record.render(time.monotonic(), self.asset_base())
        return data["state"], body
