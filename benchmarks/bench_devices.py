"""
The provider's performance devices, each against its plain form, measured interleaved in one run.

A device stays in the product only where its row here shows what it buys. Each row puts the device
(**Luma provider**) next to its plain form (**Baseline**), measured in the same rounds; the plain
forms are swapped in by :mod:`benchmarks._plain` in the measured child only. A round runs every side
once, in rotating order; the table shows the median of the rounds. A device's target is a median
gain larger than the run-to-run noise of the comparison (:func:`benchmarks._results.device_pays`).

Measured here: the hook imported in a thread. In a process that has Airflow and the trigger module
imported (as a triggerer that is about to run its first Luma waits), the longest event-loop stall
(lag probe max) while 200 waits start at once, the first importing the hook, and each polls once:
import in a thread against import on the loop.

Two devices were measured here and removed (no gain beyond the noise): a per-wait cache of parsed
URLs (yarl caches its own parsing), and asset copies reading through http.client's ``readinto``
via urllib3's private ``response.raw._fp`` (against requests' ``iter_content``, same chunk size).
The waiting devices are measured in a triggerer's conditions, at 200 and 1,000 concurrent waits
(:mod:`benchmarks.bench_concurrent_waits`, one mode per device). Two were removed after their A/B
at 200 waits showed no CPU gain beyond the rounds' noise: a 20 ms poll grid (against
``asyncio.sleep`` per poll) and a per-loop cache of shared connection-lookup futures (against a
plain dict). The retry loop built only after a first failure stays: its row shows its gain.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from benchmarks import bench_concurrent_waits
from benchmarks._emulator import EmulatorProcess
from benchmarks._proc import Child, interleaved, log
from benchmarks._results import Row, ab_row
from benchmarks._task import first_event

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

ROUNDS = 5
#: Waits started at once: a large Luma triggerer's load.
WAITS = 200
#: The device's side of each A/B.
DEVICE = "device"


def completed_generation(emulator: EmulatorProcess) -> str:
    """
    Create one generation and wait until it is completed; return its id.

    :param emulator: an emulator whose generations complete at once.
    """
    generation = emulator.create_images(1)[0]
    while generation["state"] != "completed":
        time.sleep(0.05)
        generation = emulator.request("GET", emulator.api_path(f"/generations/{generation['id']}"))
    return str(generation["id"])


# -- import: the first wait's stall ---------------------------------------------------------------


def import_stall_child(
    parent: Connection, generation_id: str, variant: str | None, waits: int
) -> dict[str, Any]:
    """
    Be a triggerer about to run its first Luma waits: Airflow and the trigger module imported, the
    hook and its HTTP stack not. Start ``waits`` waits at once (a completed generation: one poll
    each) next to a lag probe; report the probe's longest stall.

    :param parent: the pipe to the benchmark (unused: the result is all it sends).
    :param generation_id: a completed generation.
    :param variant: ``plain-import``, or None for the provider as it is.
    :param waits: waits started at once, as a triggerer handed many at a restart.
    """
    import airflow.sdk
    import airflow.triggers.base  # noqa: F401

    from airflow_provider_luma.triggers.luma import LumaGenerationTrigger
    from benchmarks import _plain

    _plain.use(variant)
    not_yet = [m for m in ("aiohttp", "airflow_provider_luma.hooks.luma") if m not in sys.modules]

    async def one_wait(now: float) -> str:
        trigger = LumaGenerationTrigger(
            generation_id=generation_id,
            luma_conn_id="luma_default",
            poll_interval=1.0,
            end_time=now + 60,
            first_poll_at=now + 0.05,
        )
        event = await first_event(trigger)
        return str(event.payload["status"])

    async def first_waits() -> tuple[list[float], list[str], float]:
        lags: list[float] = []
        done = asyncio.Event()
        probe = asyncio.create_task(bench_concurrent_waits._probe(lags, done))
        await asyncio.sleep(0.2)  # the probe runs steadily before the waits start
        now = time.time()
        started = time.perf_counter()
        statuses = await asyncio.gather(*(one_wait(now) for _ in range(waits)))
        seconds = time.perf_counter() - started
        await asyncio.sleep(0.2)
        done.set()
        await probe
        return lags, statuses, seconds

    lags, statuses, seconds = asyncio.run(first_waits())
    return {
        "lag_max_ms": max(lags) * 1000,
        "status": "completed" if set(statuses) == {"completed"} else repr(sorted(set(statuses))),
        "wait_seconds": seconds,
        "not_imported_before": not_yet,
    }


def measure_import(rounds: int, waits: int) -> dict[str, list[dict[str, Any]]]:
    """
    The first waits' longest stall, import in a thread against on the loop, fresh processes.

    :param rounds: processes per side.
    :param waits: waits started at once in each process.
    """
    with EmulatorProcess(queued_seconds=0.0, dreaming_seconds=0.0) as emulator:
        generation_id = completed_generation(emulator)

        def first_waits(side: str) -> dict[str, Any]:
            variant = None if side == DEVICE else side
            env = emulator.connection_env()
            with Child(import_stall_child, generation_id, variant, waits, env=env) as child:
                result: dict[str, Any] = child.result(120)
            first = result["not_imported_before"] == ["aiohttp", "airflow_provider_luma.hooks.luma"]
            if result["status"] != "completed" or not first:
                raise RuntimeError(f"{side}: not a first wait, or it did not complete: {result}")
            log(f"import, {side}: stall {result['lag_max_ms']:.1f} ms")
            return result

        return interleaved(rounds, [DEVICE, "plain-import"], first_waits)


def import_rows(results: dict[str, list[dict[str, Any]]], waits: int) -> list[Row]:
    """
    One row: the first waits' longest stall.

    :param results: from :func:`measure_import`.
    :param waits: waits started at once in each process.
    """
    return [
        ab_row(
            f"A/B at {waits:,} concurrent waits: first waits' event-loop stall, hook imported in a thread",
            "ms",
            [r["lag_max_ms"] for r in results[DEVICE]],
            [r["lag_max_ms"] for r in results["plain-import"]],
            "imported on the event loop",
            f"longest overshoot of a 10 ms probe sleep while {waits:,} waits start at once, the "
            "first importing the hook and its HTTP stack, and each polls once, in a fresh process "
            "with airflow.sdk and the trigger module imported",
            digits=1,
        )
    ]


def run(rounds: int = ROUNDS, waits: int = WAITS) -> list[Row]:
    """
    Measure; return the rows.

    :param rounds: processes per side.
    :param waits: waits started at once in each process.
    """
    return import_rows(measure_import(rounds, waits), waits)
