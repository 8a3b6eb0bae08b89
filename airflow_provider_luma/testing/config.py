"""
Settings of the Luma emulator: timings, failure modes, fault rules, credits and limits.

Everything here is plain data (standard library only), so it can be built in a test, sent as JSON
to ``POST /_emulator/config`` and read back with :meth:`EmulatorConfig.to_dict`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_luma.testing.agents_fates import AgentsFailureRule

#: Every kind of fault a :class:`FaultRule` can inject.
FAULT_KINDS = (
    "429",
    "429_no_retry_after",
    "500",
    "502",
    "503",
    "reset",
    "reset_after_create",
    "slow",
    "malformed_json",
    "asset_url",
    "asset_redirect",
    "traffic",
)
#: The kinds that need a :attr:`FaultRule.url`.
URL_FAULT_KINDS = ("asset_url", "asset_redirect")


@dataclass
class FaultRule:
    """
    One fault to inject into matching requests.

    A rule fires on a request whose ``"METHOD /path"`` (path relative to ``/dream-machine/v1``;
    whole for the Agents API, ``/agents/v1/...``, its presigned uploads, ``/uploads/...``, and
    asset downloads, ``/assets/...``) or route template (``"GET /generations/{id}"``,
    ``"POST /agents/v1/generations"``, ``"GET /agents/v1/generations/{id}"``) matches ``route``.
    Without ``times`` and ``rate`` it fires on every match; ``after`` lets that many matches pass
    first; ``times`` caps how often it fires in all; ``rate`` makes each match fire with that
    probability (seeded, reproducible).
    The first rule that fires wins.

    :param route: ``"*"``, or ``"METHOD pattern"`` / ``"pattern"`` with shell wildcards, e.g.
        ``"POST /generations/image"``, ``"GET /generations/*"``, ``"* /credits"``,
        ``"* /agents/v1/*"`` (every Agents API request).
    :param kind: one of :data:`FAULT_KINDS`:
        ``"429"`` (with ``Retry-After``), ``"429_no_retry_after"``, ``"500"``, ``"502"`` (an HTML
        gateway page), ``"503"``: answered before the request is processed, nothing is created;
        ``"reset"``: the TCP connection is reset before the request is processed, nothing is
        created; ``"reset_after_create"``: the request is processed (a create creates), then the
        connection is reset without an answer; ``"slow"``: the answer waits ``delay`` seconds (a
        POST is processed first, so a create creates; other methods wait first);
        ``"malformed_json"``: the request is processed, then answered 200 with a broken JSON body;
        ``"asset_url"``: the request is processed, then every asset URL in the answer (a
        generation, or a list of them) is replaced by ``url``, e.g. ``"file:///etc/passwd"`` or
        ``"http://169.254.169.254/latest/meta-data/"``, as a hostile or broken API might;
        ``"asset_redirect"``: answered ``302 Found`` with ``Location: <url>`` and nothing else,
        for asset downloads (``"GET /assets/*"``) that redirect somewhere they must not;
        ``"traffic"``: the account's other users create ``count`` image generations just before
        the request is processed, which is then answered as usual (a busy account: what a search
        of the newest generations must read past, and offsets that drift while it pages).
    :param rate: probability in [0, 1] that a matching request triggers the fault.
    :param times: the rule fires for at most this many matching requests.
    :param after: the first this many matching requests pass untouched (e.g. ``after=2`` hits the
        third create).
    :param retry_after: seconds sent in ``Retry-After`` by ``"429"``.
    :param delay: seconds ``"slow"`` waits.
    :param url: the URL ``"asset_url"`` puts in the answer and ``"asset_redirect"`` redirects to.
    :param count: how many generations ``"traffic"`` creates each time it fires.
    """

    route: str = "*"
    kind: str = "500"
    rate: float | None = None
    times: int | None = None
    after: int = 0
    retry_after: float = 1.0
    delay: float = 5.0
    url: str = ""
    count: int = 100

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"FaultRule.kind must be one of {', '.join(FAULT_KINDS)}; got {self.kind!r}")
        if self.kind in URL_FAULT_KINDS and not self.url:
            raise ValueError(f"FaultRule.url is required for kind {self.kind!r}")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"FaultRule.rate must be within [0, 1]; got {self.rate!r}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"FaultRule.times must be >= 0; got {self.times!r}")
        if self.after < 0:
            raise ValueError(f"FaultRule.after must be >= 0; got {self.after!r}")
        if self.retry_after < 0 or self.delay < 0:
            raise ValueError("FaultRule.retry_after and FaultRule.delay must be >= 0")
        if self.count < 0:
            raise ValueError(f"FaultRule.count must be >= 0; got {self.count!r}")
        method, _, pattern = self.route.strip().partition(" ")
        if not pattern:
            method, pattern = "*", method
        self._method = method.upper()
        self._pattern = re.compile(fnmatch.translate(pattern.strip()))

    def matches(self, method: str, path: str, template: str) -> bool:
        """
        Tell whether this rule applies to a request.

        :param method: the HTTP method, upper case.
        :param path: the request path relative to the API base path.
        :param template: the route template of the path, e.g. ``/generations/{id}``.
        """
        if self._method not in ("*", method):
            return False
        return bool(self._pattern.match(path) or self._pattern.match(template))

    def to_dict(self) -> dict[str, Any]:
        """Return the rule as JSON-ready data."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_value(cls, value: FaultRule | dict[str, Any]) -> FaultRule:
        """
        Build a rule from a rule or from its JSON form.

        :param value: a :class:`FaultRule` or a mapping of its fields.
        """
        if isinstance(value, FaultRule):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"a fault rule must be an object; got {value!r}")
        unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        return cls(**value)


def _default_concurrency() -> dict[str, int]:
    return {"image": 40, "video": 10}


def _default_creates_per_minute() -> dict[str, int]:
    return {"image": 80, "video": 20}


@dataclass
class EmulatorConfig:
    """
    How the emulator behaves. Timings are captured by each generation when it is created.

    :param queued_seconds: how long a new generation stays ``queued``.
    :param dreaming_seconds: how long it then stays ``dreaming``: a number, or a ``(min, max)``
        range from which each generation draws its own duration, seeded by its id.
    :param blocked_words: a prompt containing one of these (case-insensitive) fails with
        ``"Contains blacklisted words"`` when it leaves the queue.
    :param stuck_words: a prompt containing one of these stays ``dreaming`` forever.
    :param stuck_rate: probability that a generation stays ``dreaming`` forever.
    :param moderation_failure_rate: probability that a generation fails at the end of dreaming
        with ``"Advanced prompt moderation failed"``.
    :param credits: the starting credit balance in US cents.
    :param faults: fault rules, see :class:`FaultRule` (dicts are accepted).
    :param seed: seed of the random draws (faults, stuck and moderation rates).
    :param rate_limits: enforce the Build-tier limits below (and the Agents API's
        ``agents_concurrent_jobs`` and ``agents_requests_per_minute``), answering 429 with
        ``Retry-After``.
    :param concurrency_limits: running (queued or dreaming) generations allowed per family.
    :param creates_per_minute: create requests allowed per family in any 60 s window.
    :param public_url: scheme://host[:port] used in asset URLs; default: the ``Host`` the client used.
    :param image_long_side: long side in pixels of generated pictures.
    :param sync_timeout: the most a ``sync`` image request waits, in seconds.
    :param listing_delay: seconds after its creation before a generation shows in
        ``GET /generations`` (Luma documents no bound on it); ``GET /generations/{id}`` finds it
        at once.
    :param agents_concurrent_jobs: with ``rate_limits``, the Agents API generations allowed queued
        or processing at once (Luma's limit depends on the plan: 10 is an assumption).
    :param agents_requests_per_minute: with ``rate_limits``, the Agents API generation requests
        allowed in any 60 s window (plan-dependent: 30, the guides' example, is an assumption).
    :param agents_failures: rules that make Agents generations fail with a ``failure_code``, see
        :class:`~.agents_fates.AgentsFailureRule` (dicts are accepted); their counters restart
        when they are set.
    :param agents_file_ingest_seconds: how long an Agents API file stays ``pending`` after
        ``POST /files/{id}/complete`` before it is ``ready`` (or ``failed``).
    """

    queued_seconds: float = 1.0
    dreaming_seconds: float | tuple[float, float] = 5.0
    blocked_words: list[str] = field(default_factory=lambda: ["blocked"])
    stuck_words: list[str] = field(default_factory=list)
    stuck_rate: float = 0.0
    moderation_failure_rate: float = 0.0
    credits: float = 1_000_000.0
    faults: list[FaultRule] = field(default_factory=list)
    seed: int = 0
    rate_limits: bool = False
    concurrency_limits: dict[str, int] = field(default_factory=_default_concurrency)
    creates_per_minute: dict[str, int] = field(default_factory=_default_creates_per_minute)
    public_url: str | None = None
    image_long_side: int = 256
    sync_timeout: float = 60.0
    listing_delay: float = 0.0
    agents_concurrent_jobs: int = 10
    agents_requests_per_minute: int = 30
    agents_failures: list[AgentsFailureRule] = field(default_factory=list)
    agents_file_ingest_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.faults = [FaultRule.from_value(rule) for rule in self.faults]
        self.agents_failures = [AgentsFailureRule.from_value(rule) for rule in self.agents_failures]
        for name in ("agents_concurrent_jobs", "agents_requests_per_minute"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        if self.agents_file_ingest_seconds < 0:
            raise ValueError(
                f"agents_file_ingest_seconds must be >= 0; got {self.agents_file_ingest_seconds!r}"
            )
        if isinstance(self.dreaming_seconds, (list, tuple)):
            low, high = (float(v) for v in self.dreaming_seconds)
            if not 0 <= low <= high:
                raise ValueError(f"dreaming_seconds range must satisfy 0 <= min <= max; got {(low, high)}")
            self.dreaming_seconds = (low, high)
        elif self.dreaming_seconds < 0:
            raise ValueError(f"dreaming_seconds must be >= 0; got {self.dreaming_seconds!r}")
        if self.queued_seconds < 0:
            raise ValueError(f"queued_seconds must be >= 0; got {self.queued_seconds!r}")
        if self.listing_delay < 0:
            raise ValueError(f"listing_delay must be >= 0; got {self.listing_delay!r}")
        for name in ("stuck_rate", "moderation_failure_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]; got {getattr(self, name)!r}")
        if not 16 <= self.image_long_side <= 4096:
            raise ValueError(f"image_long_side must be within [16, 4096]; got {self.image_long_side!r}")
        self.blocked_words = [str(w) for w in self.blocked_words]
        self.stuck_words = [str(w) for w in self.stuck_words]
        self.concurrency_limits = {**_default_concurrency(), **self.concurrency_limits}
        self.creates_per_minute = {**_default_creates_per_minute(), **self.creates_per_minute}

    def dreaming_range(self) -> tuple[float, float]:
        """Return ``dreaming_seconds`` as a ``(min, max)`` pair."""
        if isinstance(self.dreaming_seconds, tuple):
            return self.dreaming_seconds
        return (float(self.dreaming_seconds), float(self.dreaming_seconds))

    def updated(self, **changes: Any) -> EmulatorConfig:
        """
        Return a copy with some fields changed (validated like a new config).

        :param changes: field names and their new values; unknown names raise ``ValueError``.
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown emulator setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as JSON-ready data."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["faults"] = [rule.to_dict() for rule in self.faults]
        data["agents_failures"] = [rule.to_dict() for rule in self.agents_failures]
        if isinstance(self.dreaming_seconds, tuple):
            data["dreaming_seconds"] = list(self.dreaming_seconds)
        return data
