"""
Detection lag and requests per generation: how late a wait notices a finished generation, and how
many status requests it spends on the way.

A generation's completion time is deterministic in the emulator: ``created_at`` plus the queued
and dreaming seconds it was created with (set through the admin API before each create, so every
generation has a known duration, spread over 5 to 20 s). The lag is the client's clock when it
has the completed generation minus that time. GETs per generation are counted by the emulator
(its ``last_requests``, grouped by id).

Paths, run at the same time on the same durations in one process:

* ours: ``LumaImageGenerateOperator(deferrable=True)``: ``execute`` (create, any status check it
  makes, deferral), then the trigger's first event; every GET of both is counted. Polled every 3 s
  (same as the seed) and every 5 s (the operator's default);
* the seed's loop: create, then ``GET`` every 3 s with ``requests`` until done (in threads).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

from benchmarks._emulator import EmulatorProcess
from benchmarks._proc import log
from benchmarks._results import MIN_ROUNDS, Baseline, Row, median_ratio, ratios_note
from benchmarks._task import first_event, seed_create, seed_wait, task_context

QUEUED_SECONDS = 1.0
SHORTEST, LONGEST = 5.0, 20.0
GENERATIONS = 12
SEED_INTERVAL = 3.0
OURS = {"ours-3s": 3.0, "ours-5s": 5.0}
PROMPT = "a lighthouse at dawn, oil painting"
WAIT_TIMEOUT = 120.0
#: Ours (polling every 3 s) against the seed loop polling every 3 s, round by round.
TARGET_LAG_RATIO = 1.1
TARGET_GETS_RATIO = 1.1


def durations(count: int) -> list[float]:
    """
    Generation durations spread evenly over 5-20 s, with fractions so the poll phase varies.

    :param count: how many.
    """
    step = (LONGEST - SHORTEST) / max(1, count - 1)
    return [round(SHORTEST + i * step + (0.37 * i) % 1 * min(step, 1.0) * 0.5, 3) for i in range(count)]


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _configure_duration(emulator: EmulatorProcess, seconds: float) -> None:
    emulator.configure(queued_seconds=QUEUED_SECONDS, dreaming_seconds=seconds - QUEUED_SECONDS)


def _start_ours(emulator: EmulatorProcess, seconds: float, interval: float) -> Any:
    """Create one generation through the operator; return the trigger it deferred to."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

    operator = LumaImageGenerateOperator(
        task_id="generate", prompt=PROMPT, deferrable=True, poll_interval=interval, timeout=WAIT_TIMEOUT
    )
    _configure_duration(emulator, seconds)
    try:
        operator.execute(task_context())
    except TaskDeferred as deferral:
        return deferral.trigger
    raise RuntimeError("the operator did not defer")


async def _wait_ours(trigger: Any) -> tuple[str, float]:
    event = await first_event(trigger)
    return event.payload["generation"]["id"], time.time()


def _seed_create(emulator: EmulatorProcess, seconds: float) -> dict[str, Any]:
    _configure_duration(emulator, seconds)
    return seed_create(emulator.base_url, PROMPT)


def _seed_poll(base_url: str, generation: dict[str, Any], seen: dict[str, float]) -> None:
    """The seed's loop after its create: GET every 3 s until done; note when it saw the end."""
    seed_wait(base_url, generation, SEED_INTERVAL, WAIT_TIMEOUT)
    seen[generation["id"]] = time.time()


async def _run(emulator: EmulatorProcess, count: int) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Start every generation (one at a time, each with its duration), then wait on all."""
    created: dict[str, dict[str, Any]] = {}  # id -> {"mode", "duration"}
    ours_tasks: dict[str, list[asyncio.Task[tuple[str, float]]]] = {mode: [] for mode in OURS}
    seed_seen: dict[str, float] = {}
    threads = []
    for seconds in durations(count):
        for mode, interval in OURS.items():
            trigger = await asyncio.to_thread(_start_ours, emulator, seconds, interval)
            created[trigger.generation_id] = {"mode": mode, "duration": seconds}
            ours_tasks[mode].append(asyncio.create_task(_wait_ours(trigger)))
        generation = await asyncio.to_thread(_seed_create, emulator, seconds)
        created[generation["id"]] = {"mode": "seed", "duration": seconds}
        thread = threading.Thread(
            target=_seed_poll, args=(emulator.base_url, generation, seed_seen), daemon=True
        )
        thread.start()
        threads.append(thread)
    seen: dict[str, dict[str, float]] = {}
    for mode, tasks in ours_tasks.items():
        done = await asyncio.wait_for(asyncio.gather(*tasks), WAIT_TIMEOUT)
        seen[mode] = dict(done)
    deadline = time.monotonic() + WAIT_TIMEOUT
    for thread in threads:
        await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
    seen["seed"] = dict(seed_seen)
    return seen, created


def measure(count: int) -> dict[str, list[dict[str, float]]]:
    """
    Per path, per generation: duration, lag and GETs.

    :param count: generations per path.
    """
    with EmulatorProcess(QUEUED_SECONDS, SHORTEST - QUEUED_SECONDS) as emulator:
        os.environ.update(emulator.connection_env())
        seen, created = asyncio.run(_run(emulator, count))
        records = emulator.admin("GET", "/_emulator/stats?generations=1")
    gets = Counter(
        r["path"].rsplit("/", 1)[1]
        for r in records["last_requests"]
        if r["method"] == "GET" and r["path"].startswith("/generations/")
    )
    created_at = {g["id"]: _epoch(g["created_at"]) for g in records["generations"]}
    results: dict[str, list[dict[str, float]]] = {}
    for generation_id, info in created.items():
        completes = created_at[generation_id] + info["duration"]
        when = seen[info["mode"]].get(generation_id)
        results.setdefault(info["mode"], []).append(
            {
                "duration": info["duration"],
                "lag": (when - completes) if when is not None else float("nan"),
                "gets": gets[generation_id],
            }
        )
    for mode, samples in results.items():
        lags = [s["lag"] for s in samples]
        log(
            f"{mode}: lag mean {statistics.mean(lags):.2f} s, max {max(lags):.2f} s; GETs "
            f"{statistics.mean(s['gets'] for s in samples):.1f} per generation"
        )
    return results


def _excess_gets(samples: list[dict[str, float]], interval: float) -> float:
    """The most GETs any generation took beyond ``duration / interval + 2``."""
    return max(s["gets"] - (s["duration"] / interval + 2) for s in samples)


def rows(rounds: list[dict[str, list[dict[str, float]]]]) -> list[Row]:
    """
    Two rows: worst detection lag and mean GETs per generation, ours at 3 s against the seed.

    :param rounds: one :func:`measure` result per round.
    """

    def worst(samples: list[dict[str, float]]) -> float:
        return max(s["lag"] for s in samples)

    def mean(samples: list[dict[str, float]], key: str) -> float:
        return statistics.mean(s[key] for s in samples)

    def per_round(path: str, figure: Any) -> list[float]:
        return [figure(result[path]) for result in rounds]

    lag = {path: per_round(path, worst) for path in ("ours-3s", "seed", "ours-5s")}
    gets = {path: per_round(path, lambda samples: mean(samples, "gets")) for path in lag}
    mean_lag = {
        path: statistics.median(per_round(path, lambda samples: mean(samples, "lag"))) for path in lag
    }
    excess = {path: max(_excess_gets(r[path], OURS.get(path, SEED_INTERVAL)) for r in rounds) for path in lag}
    count = len(rounds[0]["ours-3s"])
    spread = (
        f"{count} generations of {SHORTEST:g}-{LONGEST:g} s per path, run together; "
        f"{len(rounds)} rounds, the median shown"
    )
    seed_name = f"seed loop (GET every {SEED_INTERVAL:g} s)"
    return [
        Row(
            figure="Detection lag, worst generation (poll every 3 s)",
            unit="s",
            ours=statistics.median(lag["ours-3s"]),
            baselines=[Baseline(seed_name, statistics.median(lag["seed"]))],
            targets=[median_ratio(lag["ours-3s"], lag["seed"], TARGET_LAG_RATIO, "seed loop")],
            digits=2,
            note=(
                f"{spread}; ratio per round: {ratios_note(lag['ours-3s'], lag['seed'])}; mean lag: ours "
                f"{mean_lag['ours-3s']:.2f} s, seed {mean_lag['seed']:.2f} s; at the 5 s default: worst "
                f"{statistics.median(lag['ours-5s']):.2f} s, mean {mean_lag['ours-5s']:.2f} s"
            ),
            samples={"ours": lag["ours-3s"], "seed loop": lag["seed"], "ours at 5 s": lag["ours-5s"]},
        ),
        Row(
            figure="Status GETs per generation (poll every 3 s)",
            unit="GETs",
            ours=statistics.median(gets["ours-3s"]),
            baselines=[Baseline(seed_name, statistics.median(gets["seed"]))],
            targets=[median_ratio(gets["ours-3s"], gets["seed"], TARGET_GETS_RATIO, "seed loop")],
            note=(
                f"mean over {count} generations per round, counted by the emulator, operator and trigger "
                f"together; ratio per round: {ratios_note(gets['ours-3s'], gets['seed'])}; at the 5 s "
                f"default: {statistics.median(gets['ours-5s']):.1f}; most GETs beyond duration / "
                f"interval + 2 on any generation: ours {excess['ours-3s']:+.1f}, at 5 s "
                f"{excess['ours-5s']:+.1f}, seed {excess['seed']:+.1f}"
            ),
        ),
    ]


def run(rounds: int = MIN_ROUNDS, generations: int = GENERATIONS) -> list[Row]:
    """
    Measure; return the rows.

    :param rounds: runs of all paths together.
    :param generations: generations per path in each round.
    """
    results = []
    for index in range(rounds):
        log(f"detection lag: round {index + 1}/{rounds}")
        results.append(measure(generations))
    return rows(results)
