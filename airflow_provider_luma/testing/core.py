"""
The emulator's state and operations, independent of HTTP: what both the web app and the
Python control API (:class:`~.server.LumaEmulator`) act on.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.testing.assets import PictureCache
from airflow_provider_luma.testing.callbacks import CallbackScheduler
from airflow_provider_luma.testing.faults import FaultInjector
from airflow_provider_luma.testing.generations import COMPLETED, FAILED
from airflow_provider_luma.testing.stats import StatsRecorder
from airflow_provider_luma.testing.store import GenerationStore

if TYPE_CHECKING:
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
        if "faults" in changes or "seed" in changes:
            self.faults.load(config.faults, config.seed)
        return config

    def reset(self) -> None:
        """Return to the state right after start: starting settings, no generations, zero stats."""
        self.config = self.initial_config.updated()  # a copy: nothing done to it leaks into the next reset
        self.callbacks.clear()
        self.store.reset(self.config)
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

    def add_traffic(self, count: int) -> None:
        """
        The account's other users create ``count`` image generations now (the ``traffic`` fault).

        :param count: how many.
        """
        from airflow_provider_luma.testing.validation import validate_image

        for number in range(count):
            spec = validate_image({"model": "photon-1", "prompt": f"another user's picture {number}"})
            self.store.create(spec, other_user=True)

    def force(self, generation_id: str, state: str, reason: str | None = None) -> None:
        """
        Force a generation's state now (and notify its callback URL).

        :param generation_id: the generation id.
        :param state: ``completed`` or ``failed``.
        :param reason: the failure reason, for ``failed``.
        """
        if state not in (COMPLETED, FAILED):
            raise ValueError(f"state must be {COMPLETED!r} or {FAILED!r}; got {state!r}")
        record = self.store.force(generation_id, state, reason if state == FAILED else None)
        if record.callback_url:
            self.callbacks.notify_now(record.id, record.callback_url)

    def generation_dicts(self) -> list[dict[str, Any]]:
        """Return a fresh copy of every live generation object, oldest first."""
        now = time.monotonic()
        base = self.asset_base()
        return [json.loads(record.render(now, base)[1]) for record in self.store.records()]

    def _callback_payload(self, generation_id: str) -> tuple[str, bytes] | None:
        try:
            record = self.store.get(generation_id)
        except Exception:
            return None
        data, body = record.render(time.monotonic(), self.asset_base())
        return data["state"], body
