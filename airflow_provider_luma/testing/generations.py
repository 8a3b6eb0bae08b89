"""
One emulated generation: its timeline and its JSON form (the SDK's ``Generation`` type).

The state is never stored: it is computed from the clock (``queued`` for ``queued_s``, then
``dreaming`` for ``dreaming_s``, then the outcome), unless a test forced one with
``LumaEmulator.complete``/``fail``. So no background task drives generations forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

QUEUED, DREAMING, COMPLETED, FAILED = "queued", "dreaming", "completed", "failed"
TERMINAL_STATES = (COMPLETED, FAILED)
#: ``outcome`` of a generation that never leaves ``dreaming``.
STUCK = "stuck"


@dataclass(eq=False)
class GenerationRecord:
    """
    A generation as the emulator keeps it.

    :param id: the generation id (UUID v4).
    :param kind: the request's generation type (``image``, ``reframe_video``, ...).
    :param family: ``"image"`` or ``"video"``; also the object's ``generation_type``.
    :param model: the model name.
    :param request: the request echoed in the object.
    :param created_at: ISO 8601 creation time (UTC, ``Z``).
    :param started: ``time.monotonic()`` at creation.
    :param queued_s: seconds spent ``queued``.
    :param dreaming_s: seconds spent ``dreaming``.
    :param outcome: ``completed``, ``failed`` or :data:`STUCK`.
    :param failure_reason: the reason given when the outcome is ``failed``.
    :param fails_in_queue: fail right when leaving the queue (prompt moderation), skipping dreaming.
    :param cost: the price charged at creation, in cents (refunded if it fails).
    :param prompt: the prompt the picture is derived from, if any.
    :param aspect_ratio: the aspect ratio of the picture asset.
    :param image_format: ``"jpg"`` or ``"png"``.
    :param callback_url: where state changes are POSTed, if anywhere.
    """

    id: str
    kind: str
    family: str
    model: str
    request: dict[str, Any]
    created_at: str
    started: float
    queued_s: float
    dreaming_s: float
    outcome: str = COMPLETED
    failure_reason: str | None = None
    fails_in_queue: bool = False
    cost: float = 0.0
    prompt: str | None = None
    aspect_ratio: str = "16:9"
    image_format: str = "jpg"
    callback_url: str | None = None
    forced: tuple[str, str | None] | None = None
    deleted: bool = False
    settled: str | None = None
    _cache: dict[tuple[str, str], tuple[dict[str, Any], bytes]] = field(default_factory=dict, repr=False)

    def state(self, now: float) -> str:
        """
        Return the state at monotonic time ``now``.

        :param now: a ``time.monotonic()`` value.
        """
        if self.forced is not None:
            return self.forced[0]
        elapsed = now - self.started
        if elapsed < self.queued_s:
            return QUEUED
        if self.fails_in_queue:
            return FAILED
        if self.outcome == STUCK or elapsed < self.queued_s + self.dreaming_s:
            return DREAMING
        return self.outcome

    def transitions(self) -> list[tuple[float, str]]:
        """Return ``(monotonic time, new state)`` of each state change still to come by the clock."""
        if self.forced is not None:
            return []
        dreaming_at = self.started + self.queued_s
        if self.fails_in_queue:
            return [(dreaming_at, FAILED)]
        if self.outcome == STUCK:
            return [(dreaming_at, DREAMING)]
        return [(dreaming_at, DREAMING), (dreaming_at + self.dreaming_s, self.outcome)]

    def finishes_at(self) -> float | None:
        """Return the monotonic time it reaches a final state, or None if it never will."""
        if self.forced is not None:
            return self.started
        steps = self.transitions()
        last_time, last_state = steps[-1]
        return last_time if last_state in TERMINAL_STATES else None

    def _assets(self, state: str, asset_base: str) -> dict[str, str | None] | None:
        if state != COMPLETED:
            return None
        if self.family == "image":
            return {
                "image": f"{asset_base}/assets/{self.id}.{self.image_format}",
                "video": None,
                "progress_video": None,
            }
        return {
            "image": f"{asset_base}/assets/{self.id}.jpg",  # the video's thumbnail
            "video": f"{asset_base}/assets/{self.id}.mp4",
            "progress_video": None,
        }

    def render(self, now: float, asset_base: str) -> tuple[dict[str, Any], bytes]:
        """
        Return the generation object at ``now`` and its JSON bytes (cached per state).

        The dict is shared with the cache: do not change it.

        :param now: a ``time.monotonic()`` value.
        :param asset_base: scheme://host[:port] that asset URLs start with.
        """
        state = self.state(now)
        key = (state, asset_base)
        cached = self._cache.get(key)
        if cached is None:
            reason = None
            if state == FAILED:
                reason = self.forced[1] if self.forced is not None else self.failure_reason
            data = {
                "id": self.id,
                "generation_type": self.family,
                "state": state,
                "failure_reason": reason,
                "created_at": self.created_at,
                "assets": self._assets(state, asset_base),
                "model": self.model,
                "request": self.request,
            }
            cached = (data, json.dumps(data, separators=(",", ":")).encode())
            self._cache[key] = cached
        return cached

    def force(self, state: str, reason: str | None = None) -> None:
        """
        Put the generation in ``state`` now, whatever the clock says.

        :param state: ``completed`` or ``failed`` (or ``queued``/``dreaming``).
        :param reason: the failure reason, for ``failed``.
        """
        self.forced = (state, reason)
        self._cache.clear()
