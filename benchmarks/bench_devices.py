"""
The provider's performance devices, each against its plain form, measured interleaved in one run.

A device stays in the product only where its row here shows what it buys. Each row puts the device
(**Luma provider**) next to its plain form (**Baseline**), measured in the same rounds; the plain
forms are swapped in by :mod:`benchmarks._plain` in the measured child only. A round runs every side
once, in rotating order; the table shows the median of the rounds. A device's target is a median
gain larger than the run-to-run noise of the comparison: the width of the middle half of its
per-round ratios (all of them with fewer than 5 rounds).

Parts (``--parts``):

* ``import``: in a process that has Airflow and the trigger module imported (as a triggerer that
  is about to run its first Luma waits), the longest event-loop stall (lag probe max) while 200
  waits start at once, the first importing the hook, and each polls once: import in a thread
  against import on the loop.

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

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from benchmarks import bench_concurrent_waits
from benchmarks._emulator import ApiClient, EmulatorProcess
from benchmarks._proc import (
    LineReader,
    log,
    receive_message,
    send_message,
    spawn,
    stop,
    use_throwaway_airflow_home,
)
from benchmarks._results import Baseline, Row, Target, emit_rows

PARTS = ("import",)
IMPORT_ROUNDS = 5
#: Waits started at once by the import part: a large Luma triggerer's load.
IMPORT_WAITS = 200
#: The device's side of each A/B.
DEVICE = "device"
PROBE_SECONDS = 0.010


# -- judging a device ------------------------------------------------------------------------------


def spread(values: list[float]) -> float:
    """
    Run-to-run noise of one side: (max - min) / median of its rounds.

    :param values: one value per round.
    """
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else float("inf")


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
    ratios = [d / p if p else float("inf") for d, p in zip(device, plain, strict=True)]
    gain = statistics.median(1 - r for r in ratios)
    noise = ratio_noise(ratios)
    if gain > noise:
        return Target(text, True)
    return Target(text, False, f"median gain {gain:+.0%}, noise {noise:.0%}")


def ab_note(device: list[float], plain: list[float], digits: int) -> str:
    """
    Every round of both sides, the ratio per round and the noise, for a row's note.

    :param device: the device's value in each round.
    :param plain: the plain form's value in the same rounds.
    :param digits: decimals of the values.
    """

    def each(values: list[float]) -> str:
        return "/".join(f"{v:.{digits}f}" for v in values)

    ratios = [d / p for d, p in zip(device, plain, strict=True) if p]
    return (
        f"{len(device)} rounds: device {each(device)}, plain {each(plain)}; ratio per round "
        + "/".join(f"{r:.2f}x" for r in ratios)
        + f" (median {statistics.median(ratios):.2f}x, noise {ratio_noise(ratios):.2f}); "
        f"spread of the rounds (max - min over median): device {spread(device):.0%}, "
        f"plain {spread(plain):.0%}"
    )


def completed_generation(emulator: EmulatorProcess) -> str:
    """
    Create one generation and wait until it is completed; return its id.

    :param emulator: an emulator whose generations complete at once.
    """
    generation = emulator.create_images(1)[0]
    client = ApiClient(emulator.url)
    try:
        while generation["state"] != "completed":
            time.sleep(0.05)
            generation = client.request("GET", emulator.api_path(f"/generations/{generation['id']}"))
    finally:
        client.close()
    return str(generation["id"])


# -- import: the first wait's stall ---------------------------------------------------------------


def import_stall_child(generation_id: str, variant: str | None, waits: int) -> dict[str, Any]:
    """
    Be a triggerer about to run its first Luma waits: Airflow and the trigger module imported, the
    hook and its HTTP stack not. Start ``waits`` waits at once (a completed generation: one poll
    each) next to a lag probe; report the probe's longest stall.

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
        events = trigger.run()
        try:
            event = await events.__anext__()
        finally:
            await events.aclose()
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
    sides = [DEVICE, "plain-import"]
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with EmulatorProcess(queued_seconds=0.0, dreaming_seconds=0.0) as emulator:
        generation_id = completed_generation(emulator)
        env = {**os.environ, **emulator.connection_env()}
        for index in range(rounds):
            for side in sides[index % 2 :] + sides[: index % 2]:
                args = ["-m", "benchmarks.bench_devices", "--child", "import"]
                args += ["--generation", generation_id, "--import-waits", str(waits)]
                if side != DEVICE:
                    args += ["--variant", side]
                proc = spawn(args, env=env)
                try:
                    result: dict[str, Any] = receive_message(LineReader(proc), "RESULT", 120)
                    proc.wait(30)
                finally:
                    stop(proc)
                if result["status"] != "completed" or result["not_imported_before"] != [
                    "aiohttp",
                    "airflow_provider_luma.hooks.luma",
                ]:
                    raise RuntimeError(f"{side}: not a first wait, or it did not complete: {result}")
                results[side].append(result)
                log(f"import {index + 1}/{rounds} {side}: stall {result['lag_max_ms']:.1f} ms")
    return results


def import_rows(results: dict[str, list[dict[str, Any]]], waits: int) -> list[Row]:
    """
    One row: the first waits' longest stall.

    :param results: from :func:`measure_import`.
    :param waits: waits started at once in each process.
    """
    device = [r["lag_max_ms"] for r in results[DEVICE]]
    plain = [r["lag_max_ms"] for r in results["plain-import"]]
    return [
        Row(
            figure=f"A/B at {waits:,} concurrent waits: first waits' event-loop stall, hook imported in a "
            "thread",
            unit="ms",
            ours=statistics.median(device),
            baselines=[Baseline("imported on the event loop", statistics.median(plain))],
            targets=[device_pays(device, plain)],
            note=(
                f"longest overshoot of a 10 ms probe sleep while {waits:,} waits start at once, the "
                "first importing the hook and its HTTP stack, and each polls once, in a fresh process "
                f"with airflow.sdk and the trigger module imported; {ab_note(device, plain, 1)}"
            ),
        )
    ]


def main(argv: list[str] | None = None) -> int:
    """
    Measure and emit the rows (or, with ``--child``, be one measured first wait).

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", help="write the rows as JSON here (default: stdout)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--import-rounds", type=int, default=IMPORT_ROUNDS, help="rounds of the import part")
    parser.add_argument(
        "--import-waits", type=int, default=IMPORT_WAITS, help="waits started at once by the import part"
    )
    parser.add_argument("--child", choices=["import"], help=argparse.SUPPRESS)
    parser.add_argument("--generation", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    use_throwaway_airflow_home()
    if args.child:
        send_message("RESULT", import_stall_child(args.generation, args.variant, args.import_waits))
        return 0
    parts = [p for p in args.parts.split(",") if p]
    rows: list[Row] = []
    if "import" in parts:
        rows += import_rows(measure_import(args.import_rounds, args.import_waits), args.import_waits)
    emit_rows(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
