"""What the emulator saw: request counts per route, creates, faults and callbacks."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: How many recent requests :attr:`StatsSnapshot.last_requests` keeps.
LAST_REQUESTS_KEPT = 1000


class RequestRecord(NamedTuple):
    """
    One request as recorded (never its headers).

    :param method: the HTTP method.
    :param path: the path relative to the API base path (asset paths as served).
    :param status: the status answered; 0 when the connection was dropped without an answer.
    """

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class StatsSnapshot:
    """
    A copy of the counters at one moment.

    :param requests: requests per ``"METHOD /route/{template}"`` (a Counter: missing keys are 0).
    :param total_requests: all API and asset requests (admin requests are not counted).
    :param creates: Dream Machine generations actually created.
    :param max_in_flight: the most generations queued or dreaming (or processing) at once, every
        user's, of both APIs together.
    :param last_requests: the most recent requests, oldest first.
    :param faults: injected faults per kind.
    :param callbacks_sent: callback POSTs answered 200.
    :param callbacks_failed: callback deliveries given up after all tries.
    :param answers: answers per ``"METHOD STATUS"``, e.g. ``"POST 429"`` (0: dropped connection).
    :param requests_by_path: answered requests per ``"METHOD path"``, e.g. the polls of one
        generation under ``"GET /generations/<id>"`` (an Agents one under
        ``"GET /agents/v1/generations/<id>"``).
    :param agents_creates: Agents API generations actually created (their requests and polls
        are in ``requests`` under ``"POST /agents/v1/generations"`` and
        ``"GET /agents/v1/generations/{id}"``).
    :param agents_files: Agents API files created (presigned or inline).
    """

    requests: Counter[str] = field(default_factory=Counter)
    total_requests: int = 0
    creates: int = 0
    max_in_flight: int = 0
    last_requests: list[RequestRecord] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    callbacks_sent: int = 0
    callbacks_failed: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    requests_by_path: Counter[str] = field(default_factory=Counter)
    agents_creates: int = 0
    agents_files: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-ready data."""
        return {
            "requests": dict(self.requests),
            "total_requests": self.total_requests,
            "creates": self.creates,
            "max_in_flight": self.max_in_flight,
            "last_requests": [r._asdict() for r in self.last_requests],
            "faults": dict(self.faults),
            "callbacks_sent": self.callbacks_sent,
            "callbacks_failed": self.callbacks_failed,
            "answers": dict(self.answers),
            "requests_by_path": dict(self.requests_by_path),
            "agents_creates": self.agents_creates,
            "agents_files": self.agents_files,
        }


class StatsRecorder:
    """Thread-safe counters behind :class:`StatsSnapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._total = 0
            self._creates = 0
            self._max_in_flight = 0
            self._last: deque[RequestRecord] = deque(maxlen=LAST_REQUESTS_KEPT)
            self._faults: Counter[str] = Counter()
            self._callbacks_sent = 0
            self._callbacks_failed = 0
            self._answers: Counter[str] = Counter()
            self._by_path: Counter[str] = Counter()
            self._agents_creates = 0
            self._agents_files = 0

    def count(self, route_key: str) -> None:
        """
        Count one request as it arrives (before it is answered, so a client never sees its
        answer before the count).

        :param route_key: ``"METHOD /template"``.
        """
        with self._lock:
            self._requests[route_key] += 1
            self._total += 1

    def answered(self, method: str, path: str, status: int) -> None:
        """
        Record how a request was answered, as its answer starts.

        :param method: the HTTP method.
        :param path: the path as recorded in ``last_requests``.
        :param status: the status answered, 0 if the connection was dropped.
        """
        with self._lock:
            self._last.append(RequestRecord(method, path, status))
            self._answers[f"{method} {status}"] += 1
            self._by_path[f"{method} {path}"] += 1

    def created(self, max_in_flight: int) -> None:
        """
        Count one generation created.

        :param max_in_flight: the most generations in flight at once so far.
        """
        with self._lock:
            self._creates += 1
            self._max_in_flight = max(self._max_in_flight, max_in_flight)

    def agents_created(self, max_in_flight: int) -> None:
        """
        Count one Agents API generation created.

        :param max_in_flight: the most generations (of both APIs) in flight at once so far.
        """
        with self._lock:
            self._agents_creates += 1
            self._max_in_flight = max(self._max_in_flight, max_in_flight)

    def agents_file_created(self) -> None:
        """Count one Agents API file created."""
        with self._lock:
            self._agents_files += 1

    def fault(self, kind: str) -> None:
        """
        Count one injected fault.

        :param kind: the fault kind.
        """
        with self._lock:
            self._faults[kind] += 1

    def callback(self, delivered: bool) -> None:
        """
        Count one callback delivery.

        :param delivered: whether the receiver answered 200.
        """
        with self._lock:
            if delivered:
                self._callbacks_sent += 1
            else:
                self._callbacks_failed += 1

    def snapshot(self) -> StatsSnapshot:
        """Return a copy of the counters."""
        with self._lock:
            return StatsSnapshot(
                requests=Counter(self._requests),
                total_requests=self._total,
                creates=self._creates,
                max_in_flight=self._max_in_flight,
                last_requests=list(self._last),
                faults=Counter(self._faults),
                callbacks_sent=self._callbacks_sent,
                callbacks_failed=self._callbacks_failed,
                answers=Counter(self._answers),
                requests_by_path=Counter(self._by_path),
                agents_creates=self._agents_creates,
                agents_files=self._agents_files,
            )
