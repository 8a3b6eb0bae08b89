"""
Emulator capacity: requests per second for ``GET /generations/{id}`` on loopback.

The emulator runs in one process and the load generator in another: one aiohttp session with N
keep-alive connections, N coroutines each sending the next request as soon as the last is
answered, for a few seconds. Both share the machine's cores, so the figure is what this machine
can do with client and server together: the situation of the 1,000-wait benchmark, which needs
about 1,000 waits / 2 s = 500 requests/s.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from benchmarks._emulator import API_KEY, EmulatorProcess
from benchmarks._proc import Child, log, process_cpu_seconds
from benchmarks._results import Row, at_least

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

CLIENTS = (10, 100)
SECONDS = 4.0
NEEDED = 500.0  # 1,000 waits polling every 2 s
HEADROOM = 2.0


def load(parent: Connection, url: str, clients: int, seconds: float) -> dict[str, Any]:
    """
    Be the load generator's process.

    :param parent: the pipe to the benchmark (unused: the result is all it sends).
    :param url: the generation to ``GET``.
    :param clients: concurrent keep-alive connections.
    :param seconds: how long to send requests.
    """
    return asyncio.run(_load(url, clients, seconds))


async def _load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    counts = {"ok": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(stop_at: float) -> None:
            while time.perf_counter() < stop_at:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    counts["ok" if response.status == 200 else "failed"] += 1

        await asyncio.gather(*(worker(time.perf_counter() + 0.5) for _ in range(clients)))  # warm-up
        counts.update(ok=0, failed=0)
        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(started + seconds) for _ in range(clients)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return {"requests_per_s": counts["ok"] / elapsed, "failed": counts["failed"], "client_cpu": cpu}


def measure(clients: tuple[int, ...], seconds: float) -> dict[int, dict[str, Any]]:
    """
    Requests/s for each number of concurrent clients.

    :param clients: concurrent keep-alive connections per run.
    :param seconds: how long each run lasts.
    """
    results: dict[int, dict[str, Any]] = {}
    with EmulatorProcess() as emulator:
        generation = emulator.create_images(1)[0]
        url = f"{emulator.base_url}/generations/{generation['id']}"
        for count in clients:
            server_cpu = process_cpu_seconds(emulator.pid)
            with Child(load, url, count, seconds) as child:
                result: dict[str, Any] = child.result(seconds + 120)
            served = result["requests_per_s"] * seconds
            result["server_ms_per_request"] = (
                (process_cpu_seconds(emulator.pid) - server_cpu) / max(1.0, served) * 1000
            )
            results[count] = result
            log(f"{count} clients: {result['requests_per_s']:,.0f} requests/s, {result['failed']} failed")
    return results


def rows(results: dict[int, dict[str, Any]]) -> list[Row]:
    """
    One row: the best requests/s, the others in the note.

    :param results: from :func:`measure`.
    """
    best = max(r["requests_per_s"] for r in results.values())
    details = "; ".join(
        f"{n} clients {r['requests_per_s']:,.0f}/s ({r['failed']} failed, server CPU "
        f"{r['server_ms_per_request']:.2f} ms/request)"
        for n, r in results.items()
    )
    return [
        Row(
            figure="Emulator capacity: GET /generations/{id} on loopback",
            unit="req/s",
            ours=best,
            targets=[
                at_least(
                    best, NEEDED * HEADROOM, "req/s", label=f"{HEADROOM:g}x the {NEEDED:.0f} req/s needed: "
                )
            ],
            digits=0,
            note=f"aiohttp keep-alive clients in another process; {details}",
        )
    ]


def run(rounds: int = 1) -> list[Row]:
    """
    Measure; return the row.

    :param rounds: ignored: one run per number of clients gives the figure, which is held to a
        floor, not compared with a baseline.
    """
    return rows(measure(CLIENTS, SECONDS))
