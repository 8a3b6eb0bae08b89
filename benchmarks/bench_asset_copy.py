"""
Asset copy to storage: 1 GiB from the emulator's ``/assets/blob/{size}`` to a local file.

Ours: the provider's ``copy_asset`` (``airflow_provider_luma.storage``: requests, its default chunks,
written through an ``ObjectStoragePath``), in a fresh process whose peak RSS growth over the copy
is measured (``VmHWM`` reset at the start). Baselines, same URL, same disk:

* ``curl -o`` (its whole peak RSS, from ``wait4``; it has no start-up baseline to subtract);
* plain ``requests`` ``iter_content(1 MiB)`` into ``open()``, in a process that has imported
  ``airflow.sdk`` like ours: the same HTTP client without ``ObjectStoragePath``, to tell the
  helper's own cost from the HTTP client's.

The emulator runs in its own process and is the same for all; after one uncounted warm-up copy,
each path is run five times, in rotating order, and the median throughput counts. Files
are deleted after each copy.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

from benchmarks._emulator import EmulatorProcess
from benchmarks._proc import Child, MemoryWatch, interleaved, log
from benchmarks._results import Baseline, Row, median_ratio, ratios_note

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

SIZE = 1 << 30
CHUNK = 1 << 20
ROUNDS = 5
#: Our peak RSS growth against the whole peak RSS of a curl process copying the same file.
TARGET_RSS_RATIO = 0.5
TARGET_SHARE_OF_CURL = 0.8
PATHS = ("ours", "curl", "requests")


def copy_in_child(parent: Connection, path: str, url: str, destination: str) -> dict[str, Any]:
    """
    Be the measured process: import, reset the peak RSS, copy, report.

    :param parent: the pipe to the benchmark (unused: the result is all it sends).
    :param path: ``ours`` or ``requests``.
    :param url: the blob URL.
    :param destination: the local file to write.
    """
    import airflow.sdk  # noqa: F401  (a task process has Airflow loaded, whichever way it copies)
    import requests

    helper = "copy_asset"
    if path == "ours":
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        try:
            from airflow_provider_luma.storage import copy_asset
        except ImportError:  # an older provider without the helper: the loop it would run
            copy_asset, helper = None, "requests iter_content (no copy_asset in this provider)"
        target: Any = ObjectStoragePath(f"file://{destination}")
        # A task process has Airflow's listeners and plugins loaded when it starts; a fresh process
        # loads them at its first ObjectStoragePath close (hook lineage), ~0.4 s that is not the copy.
        with ObjectStoragePath(f"file://{destination}.warm-up").open("wb") as warm_up:
            warm_up.write(b"x")
        os.unlink(f"{destination}.warm-up")
    memory = MemoryWatch()
    started = time.perf_counter()
    if path == "ours" and copy_asset is not None:
        # As the operators call it: the emulator is the connection's origin, so its http URL passes.
        written = copy_asset(url, target, trusted_origin=url)
    else:
        written = 0
        with requests.get(url, stream=True, timeout=(5, 60)) as response, open(destination, "wb") as out:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=CHUNK):
                out.write(chunk)
                written += len(chunk)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "bytes": written,
        "rss_growth_mb": memory.growth_mb(),
        "peak_reset": memory.reset_ok,
        "helper": helper,
    }


def _copy_curl(url: str, destination: str) -> dict[str, Any]:
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl is not installed")
    started = time.perf_counter()
    proc = subprocess.Popen([curl, "-sS", "--fail", "-o", destination, url])
    _, status, usage = os.wait4(proc.pid, 0)  # its resource usage, which Popen.wait does not give
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"curl exited {proc.returncode}")
    return {
        "seconds": seconds,
        "bytes": os.path.getsize(destination),
        "rss_peak_mb": usage.ru_maxrss * 1024 / 1e6,
    }


def measure(rounds: int) -> dict[str, list[dict[str, Any]]]:
    """
    Copy the blob ``rounds`` times with each path, paths interleaved.

    :param rounds: copies per path.
    """
    folder = tempfile.mkdtemp(prefix="luma-bench-copy-")

    def copy(path: str) -> dict[str, Any]:
        destination = os.path.join(folder, f"{path}.bin")
        if path == "curl":
            result = _copy_curl(url, destination)
        else:
            with Child(copy_in_child, path, url, destination) as child:
                result = child.result(300)
        os.remove(destination)
        if result["bytes"] != SIZE:
            raise RuntimeError(f"{path} copied {result['bytes']:,} bytes of {SIZE:,}")
        result["mb_per_s"] = SIZE / result["seconds"] / 1e6
        log(f"copy with {path}: {result['mb_per_s']:,.0f} MB/s")
        return result

    try:
        with EmulatorProcess() as emulator:
            url = f"{emulator.url}/assets/blob/{SIZE}"
            warm_up = os.path.join(folder, "warm-up.bin")
            _copy_curl(url, warm_up)  # not counted: first use of the emulator's blob path and the disk
            os.remove(warm_up)
            return interleaved(rounds, PATHS, copy)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def rows(results: dict[str, list[dict[str, Any]]]) -> list[Row]:
    """
    Two rows: peak RSS growth and throughput.

    :param results: from :func:`measure`.
    """
    speed = {path: statistics.median(r["mb_per_s"] for r in samples) for path, samples in results.items()}
    # A round is one copy with each path, side by side: ratios are taken within a round.
    rss = {
        path: [r["rss_peak_mb" if path == "curl" else "rss_growth_mb"] for r in samples]
        for path, samples in results.items()
    }
    mb_per_s = {path: [r["mb_per_s"] for r in samples] for path, samples in results.items()}
    ours_rss, requests_rss, curl_rss = (statistics.median(rss[p]) for p in ("ours", "requests", "curl"))
    ours_rss_worst = max(rss["ours"])
    helper = results["ours"][0]["helper"]
    rounds = len(results["ours"])
    return [
        Row(
            figure="Asset copy of 1 GiB: peak RSS growth",
            unit="MB",
            ours=ours_rss,
            baselines=[
                Baseline("curl -o (whole peak RSS of the process)", curl_rss),
                Baseline("plain requests iter_content(1 MiB) to open(), Airflow loaded", requests_rss),
            ],
            targets=[median_ratio(rss["ours"], rss["curl"], TARGET_RSS_RATIO, "curl's whole RSS")],
            note=(
                f"ours: `{helper}` to an ObjectStoragePath file://; median of {rounds} fresh processes, "
                f"worst {ours_rss_worst:.1f} MB; ratio per round: {ratios_note(rss['ours'], rss['curl'])}"
            ),
            samples=rss,
        ),
        Row(
            figure="Asset copy of 1 GiB: throughput",
            unit="MB/s",
            ours=speed["ours"],
            baselines=[
                Baseline("curl -o", speed["curl"]),
                Baseline("plain requests iter_content(1 MiB) to open(), Airflow loaded", speed["requests"]),
            ],
            targets=[
                median_ratio(mb_per_s["ours"], mb_per_s["curl"], TARGET_SHARE_OF_CURL, "curl", at_most=False)
            ],
            digits=0,
            note=(
                f"median of {rounds} copies each, rotating order, emulator in its own process; MB/s: "
                + "; ".join(
                    f"{path} " + ", ".join(f"{r['mb_per_s']:.0f}" for r in samples)
                    for path, samples in results.items()
                )
                + f"; ratio to curl per round: {ratios_note(mb_per_s['ours'], mb_per_s['curl'])}"
            ),
        ),
    ]


def run(rounds: int = ROUNDS) -> list[Row]:
    """
    Measure; return the rows.

    :param rounds: copies per path.
    """
    return rows(measure(rounds))
