"""Choosing which fault, if any, a request gets (the rules are in :mod:`.config`)."""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_luma.testing.config import FaultRule


class FaultInjector:
    """
    Applies the configured rules in order, with a seeded random source for ``rate``.

    :param rules: the fault rules.
    :param seed: seed of the random draws.
    """

    def __init__(self, rules: list[FaultRule], seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.load(rules, seed)

    def load(self, rules: list[FaultRule], seed: int) -> None:
        """
        Replace the rules and restart their counters and random draws.

        :param rules: the new rules.
        :param seed: seed of the random draws.
        """
        with self._lock:
            self._rules = list(rules)
            self._fired = [0] * len(self._rules)
            self._passed = [0] * len(self._rules)
            self._rng = random.Random(seed)

    def pick(self, method: str, path: str, template: str) -> FaultRule | None:
        """
        Return the rule that fires for this request, or None.

        :param method: the HTTP method.
        :param path: the request path relative to the API base path.
        :param template: the route template, e.g. ``/generations/{id}`` ("" if unknown).
        """
        if not self._rules:
            return None
        with self._lock:
            for i, rule in enumerate(self._rules):
                if not rule.matches(method, path, template):
                    continue
                if self._passed[i] < rule.after:
                    self._passed[i] += 1
                    continue
                if rule.times is not None and self._fired[i] >= rule.times:
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                self._fired[i] += 1
                return rule
        return None
