"""
Rows of the results table and their targets, as plain data that crosses process boundaries as JSON.

A :class:`Row` is one figure: our value, the baselines measured in the same run, and the targets
it is held to. Ratios are always ``ours / baseline``. Targets are ratios (:func:`median_ratio`):
the median over at least three rounds, each round measuring ours and the baseline side by side, so
a busy machine that slows both does not flip the verdict. Absolute figures stay in the table as
information.

The raw per-round samples behind a row go to pyperf (:func:`sample_benchmark`, :func:`emit_samples`): its
``Benchmark`` keeps them with their unit and gives the median and spread, and the suite a run
writes (``python -m benchmarks --pyperf FILE``) can be compared with an earlier run's by
``python -m pyperf compare_to OLD NEW``, which the table (one run, ours against baselines of the
same run) does not do. The rows themselves stay hand-written: no library has a row holding our
value, its same-run baselines and checked targets, which is what the table and README print.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyperf


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


#: Rounds a ratio target needs: fewer and one unlucky round decides the verdict.
MIN_ROUNDS = 3


def paired_ratios(ours: list[float], baseline: list[float]) -> list[float]:
    """
    ``ours[i] / baseline[i]`` for each round: each pair was measured side by side, so a load spike
    that slows one round slows both of its sides.

    :param ours: our value in each round.
    :param baseline: the baseline's value in the same rounds.
    """
    if len(ours) != len(baseline):
        raise ValueError(f"{len(ours)} rounds of ours against {len(baseline)} of the baseline")
    return [o / b if b else math.inf for o, b in zip(ours, baseline, strict=True)]


def median_ratio(
    ours: list[float], baseline: list[float], limit: float, baseline_name: str, *, at_most: bool = True
) -> Target:
    """
    The median over rounds of ``ours / baseline`` held to ``limit`` (at most, or at least).

    Needs :data:`MIN_ROUNDS` rounds: with fewer the target counts as missed.

    :param ours: our value in each round.
    :param baseline: the baseline's value in the same rounds, measured interleaved with ours.
    :param limit: the largest (``at_most``) or smallest ratio allowed.
    :param baseline_name: for the text.
    :param at_most: whether ``limit`` is an upper bound (else a lower one).
    """
    text = f"{'<=' if at_most else '>='} {limit:g}x {baseline_name} (median of {len(ours)} rounds)"
    if len(ours) < MIN_ROUNDS:
        return Target(text, False, f"{len(ours)} rounds, {MIN_ROUNDS} needed")
    ratios = paired_ratios(ours, baseline)
    median = statistics.median(ratios)
    spread = f"rounds {min(ratios):.2f}x-{max(ratios):.2f}x"
    if (median <= limit) if at_most else (median >= limit):
        return Target(text, True, "")
    return Target(text, False, f"median {median:.2f}x ({spread})")


def ratios_note(ours: list[float], baseline: list[float]) -> str:
    """
    The per-round ratios, for a row's note: ``"0.31x/0.29x/0.35x"``.

    :param ours: our value in each round.
    :param baseline: the baseline's value in the same rounds.
    """
    return "/".join(f"{r:.2f}x" for r in paired_ratios(ours, baseline))


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


#: pyperf's units, and the factor from ours to them (pyperf keeps times in seconds).
_PYPERF_UNITS = {"ms": ("second", 1e-3), "s": ("second", 1.0), "MiB": ("byte", 1024.0**2), "": ("integer", 1)}


def sample_benchmark(name: str, values: list[float], unit: str) -> pyperf.Benchmark:
    """
    One figure's raw per-round samples as a pyperf benchmark.

    :param name: what was sampled, unique in the run (e.g. ``"import-cost: airflow.providers.http"``).
    :param values: one value per round, in ``unit`` (rounds of 0 or less are left out: pyperf
        takes only positive values).
    :param unit: ``"ms"``, ``"s"``, ``"MiB"`` or ``""`` (a count).
    :raises ValueError: for another unit, or when no value is positive.
    """
    if unit not in _PYPERF_UNITS:
        raise ValueError(f"no pyperf unit for {unit!r}")
    pyperf_unit, factor = _PYPERF_UNITS[unit]
    kept = [value * factor for value in values if value > 0]
    if not kept:
        raise ValueError(f"{name}: no positive sample in {values}")
    if pyperf_unit == "integer":
        kept = [round(value) for value in kept]
    # One pyperf run per round, as pyperf's own runner records a worker process each.
    metadata = {"name": name, "unit": pyperf_unit}
    runs = [pyperf.Run([value], metadata=metadata, collect_metadata=False) for value in kept]
    return pyperf.Benchmark(runs)


def emit_samples(benchmarks: list[pyperf.Benchmark], out: str | None) -> None:
    """
    Write a benchmark's raw samples as a pyperf suite beside its rows (``OUT.pyperf.json``).

    :param benchmarks: from :func:`sample_benchmark`.
    :param out: the rows' file path as given to :func:`emit_rows`; None writes nothing.
    """
    if not out or not benchmarks:
        return
    path = Path(f"{out}.pyperf.json")
    path.unlink(missing_ok=True)  # pyperf refuses to overwrite
    pyperf.BenchmarkSuite(benchmarks).dump(str(path))


def merge_samples(paths: list[str], out: str) -> int:
    """
    Merge the suites the benchmarks wrote into one file for ``pyperf compare_to``; return how many
    benchmarks it holds.

    :param paths: ``*.pyperf.json`` files (missing ones are skipped: not every module writes one).
    :param out: where to write the merged suite (replaced).
    """
    merged: pyperf.BenchmarkSuite | None = None
    for path in paths:
        if not Path(path).exists():
            continue
        suite = pyperf.BenchmarkSuite.load(path)
        if merged is None:
            merged = suite
        else:
            for benchmark in suite.get_benchmarks():
                merged.add_benchmark(benchmark)
    if merged is None:
        return 0
    Path(out).unlink(missing_ok=True)
    merged.dump(out)
    return len(merged)
