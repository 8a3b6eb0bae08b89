"""
The results table: as plain text for the terminal and as markdown for ``benchmarks/RESULTS.md``,
with the machine it was measured on.

The machine's CPU facts come from pyperf's system metadata (:func:`_system`), as pyperf records
them for its own results, and the terminal's table is laid out by tabulate; the rows' cells, the
notes stay hand-written, since no benchmark library prints rows of our value
beside same-run baselines and checked targets.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING

import psutil
import pyperf
from tabulate import tabulate

from benchmarks._proc import REPO_ROOT

if TYPE_CHECKING:
    from benchmarks._results import Row

HOW_TO_READ = """\
## How to read this

Each row is one figure, measured by `make bench` in a single run: **Luma provider** is our value,
and each baseline (an official provider's way or the seed's polling loop) was measured in the same
run, on the same machine and the same emulator, so rows compare like with like even when the
machine's speed varies between runs. **Ratio** is always ours ÷ baseline: below 1 means we use
less (time, memory, CPU, requests), except for throughput, where above 1 means we are faster.
**Result** says whether the figure meets its target; `MISSED` gives the gap. The emulator always
runs in a process of its own, and each measured client runs in a fresh process, so neither one's
CPU or memory is counted against the other. Every module is loaded from a byte-code cache (kept
outside the source tree), as in an installed deployment. Times are medians unless the row says
otherwise; the notes under the table say how each figure was taken and what it leaves out. The
machine is small (2 cores) and may be shared: compare ratios more than absolute values, and check
the load average below before trusting a single run (event-loop lag and copy throughput move
most with it)."""

HEADERS = ("Figure", "Luma provider", "Baseline", "Baseline value", "Ratio", "Target", "Result")


def _number(value: float | None, digits: int, unit: str) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:,.{digits}f} {unit}".rstrip()


def verdict(row: Row) -> str:
    """
    ``ok`` when every target is met, else ``MISSED`` with each gap.

    :param row: the row.
    """
    missed = [t for t in row.targets if not t.ok]
    if not row.targets:
        return "-"
    if not missed:
        return "ok"
    return "MISSED " + "; ".join(f"[{t.text}] {t.gap}" for t in missed)


def table_lines(rows: list[Row]) -> list[tuple[str, ...]]:
    """
    The table's cells: one line per baseline (at least one per row).

    :param rows: the rows.
    """
    lines = []
    for row in rows:
        baselines = row.baselines or [None]
        for index, baseline in enumerate(baselines):
            first = index == 0
            ratio = "-"
            if baseline is not None and baseline.value and row.ours is not None:
                ratio = f"{row.ours / baseline.value:.2f}x"
            lines.append(
                (
                    row.figure if first else "",
                    _number(row.ours, row.digits, row.unit) if first else "",
                    baseline.name if baseline is not None else "-",
                    _number(baseline.value, row.digits, row.unit) if baseline is not None else "-",
                    ratio,
                    "; ".join(t.text for t in row.targets) if first else "",
                    verdict(row) if first else "",
                )
            )
    return lines


def text_table(rows: list[Row]) -> str:
    """
    The table for a terminal, columns aligned.

    :param rows: the rows.
    """
    return tabulate(table_lines(rows), HEADERS, tablefmt="simple", disable_numparse=True)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def markdown_table(rows: list[Row]) -> str:
    """
    The table in markdown.

    :param rows: the rows.
    """
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(" --- " for _ in HEADERS) + "|"]
    out += ["| " + " | ".join(_escape(cell) for cell in line) + " |" for line in table_lines(rows)]
    return "\n".join(out)


def _system() -> dict[str, str]:
    """pyperf's system metadata (CPU model, frequency, idle driver and governor, ASLR), as text."""
    # A pyperf run collects the metadata when it is made; its one value is a placeholder.
    collected = pyperf.Run([1.0], metadata={"name": "machine", "unit": "second"}).get_metadata()
    return {key: str(value) for key, value in collected.items()}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    """The commit measured, and the provider files that differed from it (the working tree counts)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "airflow_provider_luma"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    paths = [line[3:] for line in changed if line.strip()]
    if not commit:
        return "unknown"
    return f"{commit}, plus uncommitted changes to {', '.join(paths)}" if paths else commit


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    system = _system()
    return {
        "Date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": system.get("cpu_model_name", platform.processor() or "unknown"),
        "CPU frequency and config": ", ".join(
            system[key] for key in ("cpu_freq", "cpu_config") if key in system
        )
        or "unknown",
        "ASLR": system.get("aslr", "unknown"),
        "Memory": f"{psutil.virtual_memory().total / 1024**3:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Airflow": _version("apache-airflow"),
        "Provider": f"airflow-provider-luma {_version('airflow-provider-luma')}, commit {_git_commit()}",
        "Clients": f"aiohttp {_version('aiohttp')}, requests {_version('requests')}, curl",
        "Load average at start (1, 5, 15 min)": load,
    }


def markdown(
    rows: list[Row], machine_info: dict[str, str], runtime_seconds: float, failures: list[str]
) -> str:
    """
    The whole of ``RESULTS.md``.

    :param rows: the rows.
    :param machine_info: from :func:`machine` (plus anything to add).
    :param runtime_seconds: how long the run took.
    :param failures: benchmarks that did not run to the end, with why.
    """
    parts = [
        "# Benchmark results",
        "",
        f"Generated by `make bench` (`python -m benchmarks`) in {runtime_seconds / 60:.1f} min.",
        "",
        HOW_TO_READ,
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {key} | {_escape(value)} |" for key, value in machine_info.items()),
        "",
        "## Results",
        "",
        markdown_table(rows),
        "",
        "## How each figure was taken",
        "",
        *(f"- **{row.figure}**: {row.note}" for row in rows if row.note),
    ]
    missed = [row for row in rows if any(not t.ok for t in row.targets)]
    parts += ["", "## Targets missed", ""]
    parts += [f"- **{row.figure}**: {verdict(row)}" for row in missed] or ["None."]
    if failures:
        parts += ["", "## Benchmarks that failed to run", "", *(f"- {f}" for f in failures)]
    return "\n".join(parts) + "\n"
