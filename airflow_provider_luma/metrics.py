"""
Airflow metrics of the provider's generations, sent through Airflow's own ``Stats``: StatsD or
OpenTelemetry as the deployment's ``[metrics]`` section configures, nothing when it is off.

The model (or the family) is part of each name, so that plain StatsD, which has no tags, tells
them apart:

- ``luma.generation.created.<model>``: a create Luma accepted, or a lost one adopted;
- ``luma.generation.cost_micro_usd.<model>``: each create's estimate, in millionths of a US dollar
  (a counter: StatsD counters are whole numbers); a create with no known price adds nothing;
- ``luma.generation.completed.<model>``, ``luma.generation.failed.<model>``: a wait that saw it end
  (a sensor waiting on a generation counts too);
- ``luma.generation.queued_seconds.<model>``, ``luma.generation.dreaming_seconds.<model>``: timers,
  from the first poll that saw the state to the first that saw the next one (to a poll's
  precision; a state no poll saw is not timed);
- ``luma.api.rate_limited.<family>``: a 429 answer, by the family a create counts against
  (``image``, ``video``) or ``read`` for any other call.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def created(model: Any, cost_usd: float | None) -> None:
    """
    A create Luma accepted (or a lost one adopted), and what it is estimated to cost.

    :param model: the request's model.
    :param cost_usd: its estimate in US dollars (None: no known price).
    """
    _incr(f"luma.generation.created.{_part(model)}")
    if cost_usd:
        _incr(f"luma.generation.cost_micro_usd.{_part(model)}", round(cost_usd * 1_000_000))


def ended(model: Any, state: str) -> None:
    """
    A wait saw a generation end.

    :param model: the generation's model.
    :param state: ``completed`` or ``failed``.
    """
    _incr(f"luma.generation.{_part(state)}.{_part(model)}")


def spent(model: Any, state: str, seconds: float) -> None:
    """
    How long a generation was seen ``queued`` or ``dreaming``.

    :param model: the generation's model.
    :param state: ``queued`` or ``dreaming``.
    :param seconds: from the first poll that saw the state to the first that saw the next.
    """
    from airflow.providers.common.compat.sdk import Stats

    Stats.timing(f"luma.generation.{_part(state)}_seconds.{_part(model)}", timedelta(seconds=seconds))


def rate_limited(method: str, path: str) -> None:
    """
    A 429 answer.

    :param method: the request's method.
    :param path: the request's path, relative to the base URL.
    """
    from airflow_provider_luma.key_limits import family_of_path

    creates = method == "POST" and path.startswith("/generations")
    _incr(f"luma.api.rate_limited.{family_of_path(path) if creates else 'read'}")


def _incr(name: str, count: int = 1) -> None:
    from airflow.providers.common.compat.sdk import Stats

    Stats.incr(name, count)


def _part(value: Any) -> str:
    """A name part Airflow's stats accept, from a model or state Luma sent (any text)."""
    return _UNSAFE.sub("_", str(value or "unknown"))[:64] or "unknown"
