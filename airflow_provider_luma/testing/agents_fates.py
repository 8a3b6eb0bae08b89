"""
Choosing how Agents generations fail: :class:`AgentsFailureRule` (plain data, a setting of
:class:`~.config.EmulatorConfig`) and :class:`AgentsFates`, which applies the rules in order.

Standard library only, like :mod:`.config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from airflow_provider_luma.testing.agents_catalog import FAILURE_CODES, FAILURE_REASONS, GENERATION_TYPES


@dataclass
class AgentsFailureRule:
    """
    Agents generations that match fail with ``failure_code``.

    A rule matches a create whose prompt contains ``prompt`` (case-insensitive; ``""`` matches
    every prompt) and whose type is ``type`` (None: any). ``after`` lets that many matches pass
    first, ``times`` caps how many it fails (None: every match). The first rule that fires wins.
    The generation is charged, answers ``queued`` as usual, and fails (refunded) when it leaves
    the queue (``in_queue=True``) or when its processing ends.

    :param failure_code: one of :data:`~.agents_catalog.FAILURE_CODES`.
    :param reason: its ``failure_reason`` (default: the code's usual one).
    :param prompt: a text the prompt must contain.
    :param type: the generation type it applies to, or None for any.
    :param times: the rule fails at most this many generations.
    :param after: the first this many matching creates pass untouched.
    :param in_queue: fail when leaving ``queued`` instead of at the end of ``processing``.
    """

    failure_code: str = "generation_failed"
    reason: str | None = None
    prompt: str = ""
    type: str | None = None
    times: int | None = None
    after: int = 0
    in_queue: bool = False

    def __post_init__(self) -> None:
        if self.failure_code not in FAILURE_CODES:
            raise ValueError(
                f"AgentsFailureRule.failure_code must be one of {', '.join(FAILURE_CODES)}; "
                f"got {self.failure_code!r}"
            )
        if self.type is not None and self.type not in GENERATION_TYPES:
            raise ValueError(
                f"AgentsFailureRule.type must be one of {', '.join(GENERATION_TYPES)} or None; "
                f"got {self.type!r}"
            )
        if self.times is not None and self.times < 0:
            raise ValueError(f"AgentsFailureRule.times must be >= 0; got {self.times!r}")
        if self.after < 0:
            raise ValueError(f"AgentsFailureRule.after must be >= 0; got {self.after!r}")

    @property
    def failure_reason(self) -> str:
        """The ``failure_reason`` a generation failed by this rule shows."""
        return self.reason or FAILURE_REASONS[self.failure_code]

    def matches(self, prompt: str, generation_type: str) -> bool:
        """
        Tell whether this rule applies to a create.

        :param prompt: the request's prompt.
        :param generation_type: the request's type.
        """
        if self.type is not None and self.type != generation_type:
            return False
        return self.prompt.lower() in prompt.lower()

    def to_dict(self) -> dict[str, Any]:
        """Return the rule as JSON-ready data."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_value(cls, value: AgentsFailureRule | dict[str, Any]) -> AgentsFailureRule:
        """
        Build a rule from a rule or from its JSON form.

        :param value: an :class:`AgentsFailureRule` or a mapping of its fields.
        """
        if isinstance(value, AgentsFailureRule):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"an Agents failure rule must be an object; got {value!r}")
        unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown Agents failure rule field(s): {', '.join(sorted(unknown))}")
        return cls(**value)


@dataclass(frozen=True)
class FatePick:
    """
    What the rules decided for one create, not yet counted (see :meth:`AgentsFates.commit`).

    :param rule: the rule that fires, or None.
    :param fired: its index.
    :param passed: indexes of the rules whose ``after`` this create uses up.
    """

    rule: AgentsFailureRule | None
    fired: int | None
    passed: tuple[int, ...]


class AgentsFates:
    """
    Applies :class:`AgentsFailureRule` s in order. Not thread-safe: its owner serialises
    :meth:`peek` and :meth:`commit` (so a create refused by a rate limit uses no rule up).

    :param rules: the rules.
    """

    def __init__(self, rules: list[AgentsFailureRule]) -> None:
        self.load(rules)

    def load(self, rules: list[AgentsFailureRule]) -> None:
        """
        Replace the rules and restart their counters.

        :param rules: the new rules.
        """
        self._rules = list(rules)
        self._fired = [0] * len(self._rules)
        self._passed = [0] * len(self._rules)

    def peek(self, prompt: str, generation_type: str) -> FatePick:
        """
        Return what the rules decide for a create, without counting it.

        :param prompt: the request's prompt.
        :param generation_type: the request's type.
        """
        passed = []
        for i, rule in enumerate(self._rules):
            if not rule.matches(prompt, generation_type):
                continue
            if self._passed[i] < rule.after:
                passed.append(i)
                continue
            if rule.times is not None and self._fired[i] >= rule.times:
                continue
            return FatePick(rule, i, tuple(passed))
        return FatePick(None, None, tuple(passed))

    def commit(self, pick: FatePick) -> None:
        """
        Count a create the rules were asked about with :meth:`peek` and that happened.

        :param pick: what :meth:`peek` answered.
        """
        for i in pick.passed:
            self._passed[i] += 1
        if pick.fired is not None:
            self._fired[pick.fired] += 1
