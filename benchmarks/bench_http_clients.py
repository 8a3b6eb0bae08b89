"""
Which HTTP clients the provider keeps: the candidates side by side, in one process, same emulator.

Three loads, each measured in interleaved rounds (median of the per-round ratios counts):

* the triggerer: 200 concurrent waits on one event loop, each polling a generation, through one
  shared ``aiohttp.ClientSession`` or one shared ``httpx.AsyncClient``: process CPU per poll;
* the worker's API calls: ``GET /generations/{id}`` in a row through one ``requests.Session`` or
  one ``httpx.Client``: wall time and CPU per call;
* the asset copy: 1 GiB from the emulator's blob route into a file, with ``requests`` (urllib3,
  what ``airflow_provider_luma.storage`` uses, 256 KiB reads) or httpx streaming (``iter_bytes``).

The emulator runs in its own process, so only the client's CPU is counted. The whole run takes
about two minutes: ``python -m benchmarks --only http-clients``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

from benchmarks._emulator import API_KEY, EmulatorProcess
from benchmarks._proc import interleaved, log
from benchmarks._results import Baseline, Row, median_ratio, ratios_note

WAITS = 200
#: Polls per wait per round (200 x 10 = 2,000 polls a round).
POLLS_PER_WAIT = 10
CALLS = 300
COPY_BYTES = 1 << 30
CHUNK_BYTES = 256 << 10
ROUNDS = 3
#: The worker's calls may cost up to this much more than httpx's: the provider then needs one HTTP
#: client fewer, and a fraction of a millisecond is nothing against a round trip to Luma's API.
TARGET_CALL_RATIO = 2.0
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}


def _cpu() -> float:
    return time.process_time()


async def _waits_aiohttp(urls: list[str]) -> float:
    import aiohttp

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def wait(url: str) -> None:
            for _ in range(POLLS_PER_WAIT):
                async with session.get(url, headers=HEADERS) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await wait(urls[0])  # connection opened before the clock starts
        started = _cpu()
        await asyncio.gather(*(wait(url) for url in urls))
        return (_cpu() - started) / (len(urls) * POLLS_PER_WAIT)


async def _waits_httpx(urls: list[str]) -> float:
    import httpx

    limits = httpx.Limits(max_connections=100)  # aiohttp's default pool size
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def wait(url: str) -> None:
            for _ in range(POLLS_PER_WAIT):
                response = await client.get(url, headers=HEADERS)
                assert response.status_code == 200, response.status_code

        await wait(urls[0])
        started = _cpu()
        await asyncio.gather(*(wait(url) for url in urls))
        return (_cpu() - started) / (len(urls) * POLLS_PER_WAIT)


def _calls(client: str, url: str) -> tuple[float, float]:
    if client == "requests":
        import requests

        session: Any = requests.Session()
    else:
        import httpx

        session = httpx.Client(timeout=60.0)
    with session:
        session.get(url, headers=HEADERS)  # connection opened before the clock starts
        wall, cpu = time.perf_counter(), _cpu()
        for _ in range(CALLS):
            response = session.get(url, headers=HEADERS)
            assert response.status_code == 200, response.status_code
            response.json()
        return (time.perf_counter() - wall) / CALLS, (_cpu() - cpu) / CALLS


def _copy(client: str, url: str, destination: str) -> float:
    started = time.perf_counter()
    written = 0
    with open(destination, "wb") as out:
        if client == "requests":
            import requests

            with requests.get(url, stream=True, timeout=(5, 60)) as response:
                response.raise_for_status()
                for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
        else:
            import httpx

            with httpx.stream("GET", url, timeout=httpx.Timeout(60.0, connect=5.0)) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes(chunk_size=CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
    seconds = time.perf_counter() - started
    os.unlink(destination)
    assert written == COPY_BYTES, written
    return COPY_BYTES / 1e6 / seconds


def measure(rounds: int) -> dict[str, list[float]]:
    """
    Run every load ``rounds`` times, candidates interleaved (:func:`~benchmarks._proc.interleaved`).

    :param rounds: rounds per load.
    """
    with EmulatorProcess(queued_seconds=3600.0, dreaming_seconds=3600.0) as emulator:
        generations = emulator.create_images(WAITS)
        urls = [f"{emulator.base_url}/generations/{g['id']}" for g in generations]
        blob = f"{emulator.url}/assets/blob/{COPY_BYTES}"
        waits = {"aiohttp": _waits_aiohttp, "httpx": _waits_httpx}
        polls = interleaved(rounds, list(waits), lambda name: asyncio.run(waits[name](urls)) * 1e6)
        with tempfile.TemporaryDirectory(prefix="luma-bench-http-") as folder:
            destination = os.path.join(folder, "asset.bin")
            _copy("requests", blob, destination)  # warm-up, not counted

            def worker(name: str) -> tuple[float, float, float]:
                wall, cpu = _calls(name, urls[0])
                return wall * 1e3, cpu * 1e3, _copy(name, blob, destination)

            calls = interleaved(rounds, ["requests", "httpx"], worker)
    figures = {f"waits_{name}": values for name, values in polls.items()}
    for name, results in calls.items():
        for index, key in enumerate(("call_wall", "call_cpu", "copy")):
            figures[f"{key}_{name}"] = [result[index] for result in results]
    log("; ".join(f"{key} {statistics.median(values):.3g}" for key, values in figures.items()))
    return figures


def rows(figures: dict[str, list[float]]) -> list[Row]:
    """
    The table rows: each time the kept candidate is "ours" and the other the baseline.

    :param figures: from :func:`measure`.
    """

    def row(figure: str, unit: str, ours: str, other: str, limit: float, note: str, *, at_most: bool) -> Row:
        mine, theirs = figures[ours], figures[other]
        other_name = other.rsplit("_", 1)[1]
        return Row(
            figure=figure,
            unit=unit,
            ours=statistics.median(mine),
            baselines=[Baseline(other_name, statistics.median(theirs))],
            targets=[median_ratio(mine, theirs, limit, other_name, at_most=at_most)],
            note=f"{note}; ratio per round: {ratios_note(mine, theirs)}",
            digits=1 if unit != "ms" else 3,
            samples={ours: mine, other: theirs},
        )

    return [
        row(
            f"Client choice: CPU per poll, {WAITS} waits on one loop (aiohttp, one shared session)",
            "µs",
            "waits_aiohttp",
            "waits_httpx",
            1.0,
            "one shared httpx.AsyncClient as baseline",
            at_most=True,
        ),
        row(
            "Client choice: worker API call, wall time (requests.Session)",
            "ms",
            "call_wall_requests",
            "call_wall_httpx",
            TARGET_CALL_RATIO,
            f"{CALLS} GETs in a row; httpx.Client as baseline",
            at_most=True,
        ),
        row(
            "Client choice: worker API call, CPU (requests.Session)",
            "ms",
            "call_cpu_requests",
            "call_cpu_httpx",
            TARGET_CALL_RATIO,
            f"{CALLS} GETs in a row; httpx.Client as baseline",
            at_most=True,
        ),
        row(
            "Client choice: 1 GiB copy throughput (requests/urllib3, 256 KiB reads)",
            "MB/s",
            "copy_requests",
            "copy_httpx",
            1.0,
            "httpx stream iter_bytes(256 KiB) as baseline",
            at_most=False,
        ),
    ]


def run(rounds: int = ROUNDS) -> list[Row]:
    """
    Measure; return the rows.

    :param rounds: rounds per load.
    """
    return rows(measure(rounds))
