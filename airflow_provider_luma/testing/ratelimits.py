"""The Build-tier limits: running generations and create requests per minute, per family."""

from __future__ import annotations

import math
from collections import deque

from airflow_provider_luma.testing.errors import ApiError

WINDOW_SECONDS = 60.0


class RateLimiter:
    """Counts creates in a sliding minute and refuses those over the configured limits."""

    def __init__(self) -> None:
        self._creates: dict[str, deque[float]] = {}

    def reset(self) -> None:
        """Forget every create counted so far."""
        self._creates.clear()

    def check(
        self,
        family: str,
        now: float,
        running: int,
        next_finish: float | None,
        concurrency_limit: int,
        per_minute_limit: int,
        label: str | None = None,
    ) -> None:
        """
        Raise a 429 ``ApiError`` (with ``Retry-After``) if a new create would break a limit.

        :param family: ``"image"`` or ``"video"`` (``"agents"`` for the Agents API).
        :param now: a ``time.monotonic()`` value.
        :param running: generations of the family now queued or dreaming.
        :param next_finish: when the first of them finishes, if known.
        :param concurrency_limit: running generations allowed.
        :param per_minute_limit: creates allowed in any 60 s window.
        :param label: what the messages call the family's generations (default: the family).
        """
        name = label or family
        window = self._window(family, now)
        if len(window) >= per_minute_limit:
            wait = window[0] + WINDOW_SECONDS - now
            raise self._too_many(f"{name} create requests are limited to {per_minute_limit} per minute", wait)
        if running >= concurrency_limit:
            wait = (next_finish - now) if next_finish is not None else 1.0
            raise self._too_many(
                f"{name} generations are limited to {concurrency_limit} running at once", wait
            )

    def _window(self, family: str, now: float) -> deque[float]:
        window = self._creates.setdefault(family, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        return window

    def used(self, family: str, now: float) -> int:
        """
        Return how many creates of the family the last 60 s saw.

        :param family: the family.
        :param now: a ``time.monotonic()`` value.
        """
        return len(self._window(family, now))

    def record(self, family: str, now: float) -> None:
        """
        Count one create.

        :param family: ``"image"`` or ``"video"``.
        :param now: a ``time.monotonic()`` value.
        """
        self._creates.setdefault(family, deque()).append(now)

    @staticmethod
    def _too_many(message: str, wait: float) -> ApiError:
        seconds = max(1, math.ceil(wait))
        return ApiError(429, f"Rate limit exceeded: {message}", {"Retry-After": str(seconds)})
