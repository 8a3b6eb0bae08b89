"""
Best-effort ``callback_url`` delivery, as Luma does it.

When a generation with a ``callback_url`` is created, its state changes are scheduled on one
timer thread; when one is due, a small thread pool POSTs the generation object (as it is at that
moment) to the URL, without any credentials. A receiver that does not answer 200 gets the same
POST again up to 3 more times, 100 ms apart; each try times out after 5 s. A state is delivered
at most once per generation, so a forced ``complete()`` and its timer do not both notify.
Polling stays the source of truth: a callback that is lost is not retried later.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

RETRIES = 3
RETRY_DELAY = 0.1
TIMEOUT = 5.0
#: a due callback fires this long after the transition, so the lazily computed state has changed.
_SLACK = 0.01


def post_json(url: str, body: bytes, timeout: float = TIMEOUT) -> bool:
    """
    POST ``body`` as JSON to ``url``; return True if answered 200.

    :param url: the receiver's URL.
    :param body: the JSON bytes.
    :param timeout: seconds before giving up on the request.
    """
    import urllib.request

    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "luma-emulator-callback"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bool(response.status == 200)
    except Exception:
        return False


class CallbackScheduler:
    """
    Sends generation objects to callback URLs at the times their state changes.

    :param payload_for: returns ``(state, JSON bytes)`` of a generation now, or None if it is gone.
    :param on_delivery: told whether each delivery succeeded.
    """

    def __init__(
        self,
        payload_for: Callable[[str], tuple[str, bytes] | None],
        on_delivery: Callable[[bool], None],
    ) -> None:
        self._payload_for = payload_for
        self._on_delivery = on_delivery
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._delivered: dict[str, set[str]] = {}
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def schedule(self, generation_id: str, url: str, times: Iterable[float]) -> None:
        """
        Notify ``url`` about ``generation_id`` at each of ``times``.

        :param generation_id: the generation.
        :param url: its callback URL.
        :param times: ``time.monotonic()`` values of its state changes.
        """
        with self._cond:
            if self._closed:
                return
            for due in times:
                heapq.heappush(self._heap, (due + _SLACK, next(self._seq), generation_id, url))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="luma-emulator-callbacks", daemon=True)
                self._thread.start()
            self._cond.notify()

    def notify_now(self, generation_id: str, url: str) -> None:
        """
        Notify ``url`` about ``generation_id`` at once (after a forced state change).

        :param generation_id: the generation.
        :param url: its callback URL.
        """
        self.schedule(generation_id, url, [time.monotonic() - _SLACK])

    def reopen(self) -> None:
        """Accept schedules again after :meth:`close` (the emulator was restarted)."""
        with self._cond:
            if self._closed:
                self._closed = False
                self._thread = None
                self._pool = None

    def clear(self) -> None:
        """Drop every pending notification."""
        with self._cond:
            self._heap.clear()
            self._delivered.clear()

    def close(self) -> None:
        """Stop the timer thread and the senders."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._closed:
                    return
                _, _, generation_id, url = heapq.heappop(self._heap)
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=8, thread_name_prefix="luma-emulator-callback"
                    )
                pool = self._pool
            pool.submit(self._deliver, generation_id, url)

    def _deliver(self, generation_id: str, url: str) -> None:
        payload = self._payload_for(generation_id)
        if payload is None:
            return
        state, body = payload
        with self._cond:
            sent = self._delivered.setdefault(generation_id, set())
            if state in sent:
                return
            sent.add(state)
        for attempt in range(1 + RETRIES):
            if attempt:
                time.sleep(RETRY_DELAY)
            if post_json(url, body):
                self._on_delivery(True)
                return
        self._on_delivery(False)
