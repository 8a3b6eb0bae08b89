"""
The provider's performance devices, each against its plain form, measured interleaved in one run.

A device stays in the product only where its row here shows what it buys. Each row puts the device
(**Luma provider**) next to its plain form (**Baseline**), measured in the same rounds; the plain
forms are swapped in by :mod:`benchmarks._plain` in the measured child only. A round runs every side
once, in rotating order; the table shows the median of the rounds. A device's target is a median
gain larger than the run-to-run noise of the comparison: the width of the middle half of its
per-round ratios (all of them with fewer than 5 rounds).

Parts (``--parts``):

* ``calls``: one process polling one completed generation through the async transport, CPU per
  poll call of the provider's transport against a tenacity loop around every call (instead of one
  started only after a failure); the sides take turns in one process, so a busy machine slows
  them alike.
* ``import``: in a process that has Airflow and the trigger module imported (as a triggerer that
  is about to run its first Luma wait), the longest event-loop stall (lag probe max) while that
  first wait imports the hook and polls once: import in a thread against import on the loop.

Two devices were measured here and removed (no gain beyond the noise): a per-wait cache of parsed
URLs (yarl caches its own parsing), and asset copies reading through http.client's ``readinto``
via urllib3's private ``response.raw._fp`` (against requests' ``iter_content``, same chunk size).
The 20 ms poll grid is measured where it pays, with 1,000 concurrent waits
(:mod:`benchmarks.bench_concurrent_waits`, mode ``provider-no-grid``): one poll at a time, as
here, gives it nothing to batch.
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

PARTS = ("calls", "import")
IMPORT_ROUNDS = 5
#: The device's side of each A/B, and what the plain side is called.
DEVICE = "device"
CALL_VARIANTS = {
    "plain-retry": (
        "CPU per poll call, retry loop built only after a failure",
        "tenacity loop around every call",
    ),
}
CALL_ROUNDS = 15
#: 300 calls a side (about 0.1 s of CPU) left the rounds' spread (20%) above the gain in one run.
CALLS_PER_ROUND = 1000
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


# -- calls: CPU of one poll call ------------------------------------------------------------------


def calls_child(generation_id: str, rounds: int, calls: int) -> dict[str, list[float]]:
    """
    Be a wait polling one generation: the provider's async transport and each plain form side by
    side in this process, ``calls`` polls each per round, in rotating order; CPU ms per call.

    :param generation_id: a completed generation.
    :param rounds: rounds.
    :param calls: polls per side and round.
    """
    from airflow_provider_luma.hooks._async import AsyncTransport
    from airflow_provider_luma.hooks.luma import LumaHook
    from benchmarks import _plain

    hook = LumaHook(luma_conn_id="luma_default")
    classes = {DEVICE: AsyncTransport, **{v: _plain.TRANSPORTS[v]() for v in CALL_VARIANTS}}
    transports = {side: cls(hook.settings, LumaHook, hook.log) for side, cls in classes.items()}
    path = f"/generations/{generation_id}"

    async def poll_calls() -> dict[str, list[float]]:
        async with LumaHook.async_session() as session:
            for transport in transports.values():  # not counted: connection, credentials, first parse
                for _ in range(20):
                    await transport.call(session, "GET", path, deadline=time.time() + 60)
            cpu: dict[str, list[float]] = {side: [] for side in transports}
            sides = list(transports)
            for index in range(rounds):
                for side in sides[index % len(sides) :] + sides[: index % len(sides)]:
                    transport = transports[side]
                    started = time.process_time()
                    for _ in range(calls):
                        await transport.call(session, "GET", path, deadline=time.time() + 60)
                    cpu[side].append((time.process_time() - started) / calls * 1000)
            return cpu

    return asyncio.run(poll_calls())


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


def measure_calls(rounds: int, calls: int) -> dict[str, list[float]]:
    """
    CPU ms per poll call of the provider's transport and of each plain form, in one child.

    :param rounds: rounds.
    :param calls: polls per side and round.
    """
    with EmulatorProcess(queued_seconds=0.0, dreaming_seconds=0.0) as emulator:
        generation_id = completed_generation(emulator)
        args = ["-m", "benchmarks.bench_devices", "--child", "calls", "--generation", generation_id]
        args += ["--call-rounds", str(rounds), "--calls", str(calls)]
        proc = spawn(args, env={**os.environ, **emulator.connection_env()})
        try:
            cpu: dict[str, list[float]] = receive_message(LineReader(proc), "RESULT", 600)
            proc.wait(30)
        finally:
            stop(proc)
    for side, values in cpu.items():
        log(f"calls {side}: " + "/".join(f"{v:.3f}" for v in values) + " ms per call")
    return cpu


def call_rows(cpu: dict[str, list[float]], calls: int) -> list[Row]:
    """
    One row per call device.

    :param cpu: from :func:`measure_calls`.
    :param calls: polls per side and round.
    """
    device = cpu[DEVICE]
    return [
        Row(
            figure=f"A/B: {figure}",
            unit="ms",
            ours=statistics.median(device),
            baselines=[Baseline(plain_name, statistics.median(cpu[variant]))],
            targets=[device_pays(device, cpu[variant])],
            digits=3,
            note=(
                f"one process polling one generation over the shared session, {calls} calls per side "
                f"and round, sides in rotating order; client CPU per call; {ab_note(device, cpu[variant], 3)}"
            ),
        )
        for variant, (figure, plain_name) in CALL_VARIANTS.items()
    ]


# -- import: the first wait's stall ---------------------------------------------------------------


def import_stall_child(generation_id: str, variant: str | None) -> dict[str, Any]:
    """
    Be a triggerer about to run its first Luma wait: Airflow and the trigger module imported, the
    hook and its HTTP stack not. Run one wait (a completed generation: one poll) next to a lag
    probe; report the probe's longest stall.

    :param generation_id: a completed generation.
    :param variant: ``plain-import``, or None for the provider as it is.
    """
    import airflow.sdk
    import airflow.triggers.base  # noqa: F401

    from airflow_provider_luma.triggers.luma import LumaGenerationTrigger
    from benchmarks import _plain

    _plain.use(variant)
    not_yet = [m for m in ("aiohttp", "airflow_provider_luma.hooks.luma") if m not in sys.modules]

    async def first_wait() -> tuple[list[float], str, float]:
        lags: list[float] = []
        done = asyncio.Event()
        probe = asyncio.create_task(bench_concurrent_waits._probe(lags, done))
        await asyncio.sleep(0.2)  # the probe runs steadily before the wait starts
        now = time.time()
        trigger = LumaGenerationTrigger(
            generation_id=generation_id,
            luma_conn_id="luma_default",
            poll_interval=1.0,
            end_time=now + 60,
            first_poll_at=now + 0.05,
        )
        started = time.perf_counter()
        events = trigger.run()
        try:
            event = await events.__anext__()
        finally:
            await events.aclose()
        seconds = time.perf_counter() - started
        await asyncio.sleep(0.2)
        done.set()
        await probe
        return lags, str(event.payload["status"]), seconds

    lags, status, seconds = asyncio.run(first_wait())
    return {
        "lag_max_ms": max(lags) * 1000,
        "status": status,
        "wait_seconds": seconds,
        "not_imported_before": not_yet,
    }


def measure_import(rounds: int) -> dict[str, list[dict[str, Any]]]:
    """
    The first wait's longest stall, import in a thread against on the loop, fresh processes.

    :param rounds: processes per side.
    """
    sides = [DEVICE, "plain-import"]
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with EmulatorProcess(queued_seconds=0.0, dreaming_seconds=0.0) as emulator:
        generation_id = completed_generation(emulator)
        env = {**os.environ, **emulator.connection_env()}
        for index in range(rounds):
            for side in sides[index % 2 :] + sides[: index % 2]:
                args = ["-m", "benchmarks.bench_devices", "--child", "import"]
                args += ["--generation", generation_id]
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


def import_rows(results: dict[str, list[dict[str, Any]]]) -> list[Row]:
    """
    One row: the first wait's longest stall.

    :param results: from :func:`measure_import`.
    """
    device = [r["lag_max_ms"] for r in results[DEVICE]]
    plain = [r["lag_max_ms"] for r in results["plain-import"]]
    return [
        Row(
            figure="A/B: first wait's event-loop stall, hook imported in a thread",
            unit="ms",
            ours=statistics.median(device),
            baselines=[Baseline("imported on the event loop", statistics.median(plain))],
            targets=[device_pays(device, plain)],
            note=(
                "longest overshoot of a 10 ms probe sleep while one wait imports the hook and its "
                "HTTP stack and polls once, in a fresh process with airflow.sdk and the trigger module "
                f"imported; {ab_note(device, plain, 1)}"
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
    parser.add_argument("--call-rounds", type=int, default=CALL_ROUNDS, help="rounds of the calls part")
    parser.add_argument("--calls", type=int, default=CALLS_PER_ROUND, help="polls per side and round")
    parser.add_argument("--child", choices=["import", "calls"], help=argparse.SUPPRESS)
    parser.add_argument("--generation", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    use_throwaway_airflow_home()
    if args.child == "calls":
        send_message("RESULT", calls_child(args.generation, args.call_rounds, args.calls))
        return 0
    if args.child:
        send_message("RESULT", import_stall_child(args.generation, args.variant))
        return 0
    parts = [p for p in args.parts.split(",") if p]
    rows: list[Row] = []
    if "calls" in parts:
        rows += call_rows(measure_calls(args.call_rounds, args.calls), args.calls)
    if "import" in parts:
        rows += import_rows(measure_import(args.import_rounds))
    emit_rows(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
