"""
Behind a corporate proxy: ``HTTP_PROXY`` and ``NO_PROXY`` are honoured by every call, through a real
forward proxy process (proxy.py, from PyPI) that logs each request it forwards.

Through real ``dag.test()`` runs, with a connection whose host only the proxy can resolve (see
``tests/forward_proxy_plugin.py``), so a call that went around the proxy could not connect at all:
the worker's create (httpx), the trigger's polls (aiohttp, the triggerer's path), the worker's
polls and the copy to ``output_path`` (requests) all go through it. With ``NO_PROXY`` naming the
emulator's address, none does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import API_KEY
from tests.forward_proxy_plugin import PROXY_ONLY_HOST

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]


class ForwardProxy:
    """proxy.py as a separate process on a free loopback port; ``requests()`` reads its access log."""

    def __init__(self, folder: Path) -> None:
        self.log_file = folder / "forwarded.log"
        port_file = folder / "proxy.port"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
                "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
                "--plugins", "tests.forward_proxy_plugin.ProxyOnlyLuma",
                "--log-file", str(folder / "proxy.log"),
            ],
            cwd=ROOT,
            env={**os.environ, "LUMA_TEST_PROXY_LOG": str(self.log_file), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.process.poll() is None, "proxy.py exited"
            assert time.monotonic() < deadline, "proxy.py did not start"
            time.sleep(0.1)
        self.url = f"http://127.0.0.1:{int(port_file.read_text().split()[0])}"
        with socket.create_connection(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), timeout=10):
            pass

    def requests(self) -> list[tuple[str, str]]:
        """``(method, host:port/path)`` of every request the proxy forwarded so far."""
        text = self.log_file.read_text() if self.log_file.exists() else ""
        return [tuple(line.split(" ", 1)) for line in text.splitlines()]  # type: ignore[misc]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def forward_proxy(tmp_path, monkeypatch) -> Iterator[ForwardProxy]:
    """A running forward proxy named by HTTP_PROXY (and nothing in NO_PROXY) for the test."""
    proxy = ForwardProxy(tmp_path)
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    try:
        yield proxy
    finally:
        proxy.stop()


def wait_for_log(proxy: ForwardProxy, count: int) -> list[tuple[str, str]]:
    """The proxy's requests once ``count`` are logged."""
    deadline = time.monotonic() + 10
    while len(proxy.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return proxy.requests()


@pytest.mark.parametrize("mode", ["deferrable", "worker"])
def test_every_call_goes_through_the_proxy(run_dag, emulator, forward_proxy, tmp_path, monkeypatch, mode):
    host = f"{PROXY_ONLY_HOST}:{emulator.port}"
    connection = {"conn_type": "luma", "password": API_KEY, "host": f"http://{host}/dream-machine/v1"}
    monkeypatch.setenv("AIRFLOW_CONN_LUMA_DEFAULT", json.dumps(connection))
    out = tmp_path / "out"
    result = run_dag(f"luma_test_image_copy_{mode}", {"output_path": f"file://{out}/"})
    assert result.state == "success"  # so every call reached Luma: only the proxy knows the way
    generation_id = result.xcom("generate", "generation_id")
    polls = emulator.stats.requests["GET /generations/{id}"]
    seen = wait_for_log(forward_proxy, emulator.stats.total_requests)
    assert ("POST", f"{host}/dream-machine/v1/generations/image") in seen  # the worker's create (httpx)
    # Every poll, on the trigger (aiohttp) or in the worker (httpx).
    assert seen.count(("GET", f"{host}/dream-machine/v1/generations/{generation_id}")) == polls >= 1
    assert ("GET", f"{host}/assets/{generation_id}.png") in seen  # the copy (requests)
    assert len(seen) == emulator.stats.total_requests
    [stored] = out.iterdir()
    assert stored.stat().st_size > 0


def test_no_proxy_is_honoured_on_both_paths(run_dag, emulator, forward_proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    result = run_dag("luma_test_image_copy_deferrable", {"output_path": f"file://{tmp_path}/out/"})
    assert result.state == "success"
    assert emulator.stats.requests["GET /generations/{id}"] >= 1  # the trigger polled
    time.sleep(0.5)
    assert forward_proxy.requests() == []


@pytest.mark.parametrize("mode", ["deferrable", "worker"])
def test_all_proxy_alone_routes_both_paths_alike(
    run_dag, emulator, forward_proxy, tmp_path, monkeypatch, mode
):
    """
    Only ``ALL_PROXY`` is set: requests (the worker) honours it, and so must the trigger (aiohttp,
    which ignores it by itself), or its polls could not reach the proxy-only host.
    """
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("ALL_PROXY", forward_proxy.url)
    host = f"{PROXY_ONLY_HOST}:{emulator.port}"
    connection = {"conn_type": "luma", "password": API_KEY, "host": f"http://{host}/dream-machine/v1"}
    monkeypatch.setenv("AIRFLOW_CONN_LUMA_DEFAULT", json.dumps(connection))
    result = run_dag(f"luma_test_image_copy_{mode}", {"output_path": f"file://{tmp_path}/out/"})
    assert result.state == "success"
    generation_id = result.xcom("generate", "generation_id")
    seen = wait_for_log(forward_proxy, emulator.stats.total_requests)
    polls = emulator.stats.requests["GET /generations/{id}"]
    assert seen.count(("GET", f"{host}/dream-machine/v1/generations/{generation_id}")) == polls >= 1
    assert len(seen) == emulator.stats.total_requests
