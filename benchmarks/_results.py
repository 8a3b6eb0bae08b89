"""
Rows of the results table, their targets, and the raw samples behind them.

A :class:`Row` is one figure: our value, the baselines measured in the same run, and the targets
it is held to. Ratios are always ``ours / baseline``. Targets are ratios (:func:`median_ratio`):
the median over at least three rounds, each round measuring ours and the baseline side by side, so
a busy machine that slows both does not flip the verdict. Absolute figures stay in the table as
information. A performance device is judged against its plain form by :func:`device_pays`.

The per-round samples a row keeps go to pyperf (:func:`write_samples`): its ``Benchmark`` keeps
them with their unit, and the suite a run writes (``python -m benchmarks --pyperf FILE``) can be
compared with an earlier run's by ``python -m pyperf compare_to OLD NEW``, which the table (one
run, ours against baselines of the same run) does not do. The rows themselves stay hand-written:
no library has a row holding our value, its same-run baselines and checked targets.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: Rounds a ratio target needs: fewer and one unlucky round decides the verdict.
MIN_ROUNDS = 3


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
    :param samples: per-round values behind the row, by side (``"ours"`` or a baseline's name),
        written to the pyperf suite.
    """

    figure: str
    unit: str
    ours: float | None
    baselines: list[Baseline] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    note: str = ""
    digits: int = 1
    samples: dict[str, list[float]] = field(default_factory=dict)


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
    if (median <= limit) if at_most else (median >= limit):
        return Target(text, True, "")
    return Target(text, False, f"median {median:.2f}x (rounds {min(ratios):.2f}x-{max(ratios):.2f}x)")


def ratios_note(ours: list[float], baseline: list[float]) -> str:
    """
    The per-round ratios, for a row's note: ``"0.31x/0.29x/0.35x"``.

    :param ours: our value in each round.
    :param baseline: the baseline's value in the same rounds.
    """
    return "/".join(f"{r:.2f}x" for r in paired_ratios(ours, baseline))


# -- judging a performance device against its plain form --------------------------------------------


def ratio_noise(ratios: list[float]) -> float:
    """
    Run-to-run noise of a comparison: how wide the middle half of its per-round ratios is (their
    interquartile range), or all of them with fewer than 5 rounds.

    :param ratios: device / plain, one per round.
    """
    if len(ratios) < 5:
        return max(ratios) - min(ratios)
    quartiles = statistics.quantiles(ratios, n=4)
    return quartiles[2] - quartiles[0]


def device_pays(device: list[float], plain: list[float]) -> Target:
    """
    The device's median gain over its plain form is larger than the noise (:func:`ratio_noise`):
    the median ratio lies further from 1x than the middle half of the rounds' ratios is wide.

    :param device: the device's value in each round.
    :param plain: the plain form's value in the same rounds (costs: CPU, stall; lower is better).
    """
    text = "median gain > noise"
    ratios = paired_ratios(device, plain)
    gain = statistics.median(1 - r for r in ratios)
    noise = ratio_noise(ratios)
    if gain > noise:
        return Target(text, True)
    return Target(text, False, f"median gain {gain:+.0%}, noise {noise:.0%}")


def _spread(values: list[float]) -> float:
    """Run-to-run noise of one side: (max - min) / median of its rounds."""
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else math.inf


def ab_row(
    figure: str, unit: str, device: list[float], plain: list[float], plain_name: str, note: str, digits: int
) -> Row:
    """
    A device's A/B row: the device (ours) against its plain form, same rounds, held to
    :func:`device_pays`; the note gives every round of both sides and the noise.

    :param figure: what is measured, and which device.
    :param unit: the unit of both sides.
    :param device: the device's value in each round.
    :param plain: the plain form's value in the same rounds.
    :param plain_name: the plain form, as the baseline's name.
    :param note: how it was measured, before the rounds.
    :param digits: decimals shown.
    """
    ratios = paired_ratios(device, plain)

    def each(values: list[float]) -> str:
        return "/".join(f"{v:.{digits}f}" for v in values)

    return Row(
        figure=figure,
        unit=unit,
        ours=statistics.median(device),
        baselines=[Baseline(plain_name, statistics.median(plain))],
        targets=[device_pays(device, plain)],
        digits=digits,
        note=f"{note}; {len(device)} rounds: device {each(device)}, plain {each(plain)}; ratio per round "
        + "/".join(f"{r:.2f}x" for r in ratios)
        + f" (median {statistics.median(ratios):.2f}x, noise {ratio_noise(ratios):.2f}); spread of the "
        f"rounds (max - min over median): device {_spread(device):.0%}, plain {_spread(plain):.0%}",
        samples={"device": device, plain_name: plain},
    )


# -- raw samples, for pyperf ----------------------------------------------------------------------

#: pyperf's units, and the factor from ours to them (pyperf keeps times in seconds).
_PYPERF_UNITS = {"µs": ("second", 1e-6), "ms": ("second", 1e-3), "s": ("second", 1.0), "MB": ("byte", 1e6)}


def write_samples(rows: list[Row], path: Path) -> int:
    """
    Write the per-round samples of the rows as one pyperf suite (replaced); return how many
    benchmarks it holds. Rows in a unit pyperf has not (MB/s, requests...) are left out.

    :param rows: the rows.
    :param path: the suite's file.
    """
    import pyperf

    benchmarks = []
    for row in rows:
        if row.unit not in _PYPERF_UNITS:
            continue
        unit, factor = _PYPERF_UNITS[row.unit]
        for side, values in row.samples.items():
            metadata = {"name": f"{row.figure}: {side}", "unit": unit}
            # One pyperf run per round, as pyperf's own runner records a worker process each; it
            # takes positive values only.
            runs = [
                pyperf.Run([v * factor], metadata=metadata, collect_metadata=False) for v in values if v > 0
            ]
            if runs:
                benchmarks.append(pyperf.Benchmark(runs))
    path.unlink(missing_ok=True)  # pyperf refuses to overwrite
    if benchmarks:
        pyperf.BenchmarkSuite(benchmarks).dump(str(path))
    return len(benchmarks)
