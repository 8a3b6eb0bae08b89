"""Copying assets to storage: constant memory whatever the size, identical bytes, clear failures."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest
import requests

from airflow_provider_luma.storage import LumaAssetCopyError, copy_asset, destination_for

SIZE = 200 * 1024 * 1024
# Runs in a fresh interpreter so that its peak RSS says what the copy itself cost.
COPY_AND_MEASURE = textwrap.dedent(
    """
    import resource, sys, tracemalloc
    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from airflow_provider_luma.storage import copy_asset

    url, warmup_url, destination = sys.argv[1:]
    copy_asset(warmup_url, ObjectStoragePath(destination))  # imports, pools, buffers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    written = copy_asset(url, ObjectStoragePath(destination))
    traced_peak = tracemalloc.get_traced_memory()[1]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(written, (after - before) / 1024, traced_peak / 2**20)
    """
)


def sha256_of_url(url: str) -> str:
    digest = hashlib.sha256()
    with requests.get(url, stream=True, timeout=30) as response:
        for chunk in response.iter_content(chunk_size=1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_200_mb_asset_is_copied_in_constant_memory(emulator, tmp_path):
    url = f"{emulator.url}/assets/blob/{SIZE}"
    destination = tmp_path / "big.bin"
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            COPY_AND_MEASURE,
            url,
            f"{emulator.url}/assets/blob/1048576",
            f"file://{destination}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    written, rss_growth_mb, traced_peak_mb = int(output[0]), float(output[1]), float(output[2])
    assert written == SIZE == destination.stat().st_size
    assert rss_growth_mb < 30, f"peak RSS grew by {rss_growth_mb:.1f} MB"
    assert traced_peak_mb < 30, f"Python allocations peaked at {traced_peak_mb:.1f} MB"
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == sha256_of_url(url)


def test_folder_destination_is_named_after_the_generation(tmp_path):
    path = destination_for(f"file://{tmp_path}/out/", "https://cdn.example/x/abc.png?sig=1", "gen-1")
    assert str(path) == f"file://{tmp_path}/out/gen-1.png"
    assert str(destination_for(f"file://{tmp_path}/one.jpg", "https://cdn.example/x.png", "g")).endswith(
        "one.jpg"
    )


def test_expired_or_missing_asset_fails_clearly(emulator, tmp_path):
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with pytest.raises(LumaAssetCopyError, match="HTTP 404"):
        copy_asset(f"{emulator.url}/assets/00000000-0000-4000-8000-000000000000.png", destination)
