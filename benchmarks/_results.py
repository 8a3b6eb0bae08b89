"""
Rows of the results table and their targets, as plain data that crosses process boundaries as JSON.

A :class:`Row` is one figure: our value, the baselines measured in the same run, and the targets
it is held to. Ratios are always ``ours / baseline``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Baseline:
    """
    One baseline of a figure.

    :param name: what was measured, e.g. ``"HTTP provider operator"``.
    :param value: its value, in the row's unit (None when it could not be measured).
    :param note: how, when that needs saying.
    """

    name: str
    value: float | None
    note: str = ""


@dataclass
class Target:
    """
    One target a figure is held to, already checked.

    :param text: the target as written in the table, e.g. ``"<= 15 ms"``.
    :param ok: whether our value meets it.
    :param gap: by how much it was missed, e.g. ``"+4.1 ms (27% over)"``; empty when met.
    """

    text: str
    ok: bool
    gap: str = ""


@dataclass
class Row:
    """
    One figure of the table.

    :param figure: what is measured.
    :param unit: the unit of ``ours`` and of the baselines.
    :param ours: the provider's value.
    :param baselines: baselines measured in the same run.
    :param targets: the targets, checked.
    :param note: how it was measured, in a few words.
    :param digits: decimals shown.
    """

    figure: str
    unit: str
    ours: float | None
    baselines: list[Baseline] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    note: str = ""
    digits: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """
        Rebuild a row from its JSON form.

        :param data: from :func:`dataclasses.asdict`.
        """
        return cls(
            **{
                **data,
                "baselines": [Baseline(**b) for b in data.get("baselines", [])],
                "targets": [Target(**t) for t in data.get("targets", [])],
            }
        )


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.3g}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip()


def at_most(value: float | None, limit: float, unit: str, label: str = "") -> Target:
    """
    ``value <= limit``.

    :param value: our value (None counts as missed).
    :param limit: the most allowed.
    :param unit: for the text.
    :param label: what is checked, when not the row's own value, e.g. ``"at 5 s: "``.
    """
    text = f"{label}<= {_fmt(limit, unit)}"
    if value is None:
        return Target(text, False, "not measured")
    if value <= limit:
        return Target(text, True)
    over = value - limit
    share = f" ({over / limit:.0%} over)" if limit else ""
    return Target(text, False, f"+{_fmt(over, unit)}{share}")


def at_least(value: float | None, limit: float, unit: str, label: str = "") -> Target:
    """
    ``value >= limit``.

    :param value: our value (None counts as missed).
    :param limit: the least allowed.
    :param unit: for the text.
    :param label: what is checked, when not the row's own value.
    """
    text = f"{label}>= {_fmt(limit, unit)}"
    if value is None:
        return Target(text, False, "not measured")
    if value >= limit:
        return Target(text, True)
    short = limit - value
    return Target(text, False, f"-{_fmt(short, unit)} ({short / limit:.0%} short)")


def ratio_at_most(ours: float | None, baseline: float | None, limit: float, baseline_name: str) -> Target:
    """
    ``ours / baseline <= limit``, e.g. at most half the baseline's cost.

    :param ours: our value.
    :param baseline: the baseline's value.
    :param limit: the largest ratio allowed.
    :param baseline_name: for the text.
    """
    text = f"<= {limit:g}x {baseline_name}"
    if ours is None or not baseline:
        return Target(text, False, "not measured")
    ratio = ours / baseline
    if ratio <= limit:
        return Target(text, True)
    return Target(text, False, f"ratio {ratio:.2f}x, {ratio / limit:.2f}x the allowed {limit:g}x")


def ratio_at_least(ours: float | None, baseline: float | None, limit: float, baseline_name: str) -> Target:
    """
    ``ours / baseline >= limit``, e.g. at least 80% of a baseline's throughput.

    :param ours: our value.
    :param baseline: the baseline's value.
    :param limit: the smallest ratio allowed.
    :param baseline_name: for the text.
    """
    text = f">= {limit:.0%} of {baseline_name}"
    if ours is None or not baseline:
        return Target(text, False, "not measured")
    ratio = ours / baseline
    if ratio >= limit:
        return Target(text, True)
    return Target(text, False, f"{ratio:.0%}, {limit - ratio:.0%} short")


def emit_rows(rows: list[Row], out: str | None) -> None:
    """
    Hand a benchmark's rows to the runner: write them as JSON to ``out``, or print them.

    :param rows: the rows.
    :param out: a file path, or None for stdout.
    """
    text = json.dumps([asdict(row) for row in rows], indent=2)
    if out:
        with open(out, "w") as file:
            file.write(text)
    else:
        sys.stdout.write(text + "\n")


def load_rows(path: str) -> list[Row]:
    """
    Read the rows a benchmark wrote.

    :param path: the JSON file.
    """
    with open(path) as file:
        return [Row.from_dict(item) for item in json.load(file)]
