"""
Hostile asset URLs through real ``dag.test()`` runs: the emulator hands out (or redirects to) URLs
that must not be fetched; the task fails clearly, writes nothing, and the other host sees nothing.
"""

from __future__ import annotations

import http.server
import threading
from typing import TYPE_CHECKING

import pytest

from airflow_provider_luma.testing import FaultRule
from tests.conftest import API_KEY, plain_text, without_mask_secret_requests

if TYPE_CHECKING:
    from collections.abc import Iterator

MODES = ["deferrable", "worker"]


class CountingServer(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that counts every connection it accepts (and answers 200 to any GET)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AnswerAnything)
        self.connections = 0

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1
        return True

    @property
    def port(self) -> int:
        return self.server_address[1]


class _AnswerAnything(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"not your asset"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def other_host() -> Iterator[CountingServer]:
    """Another service on loopback, one an asset URL must never reach."""
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def run_refused(run_dag, mode: str, out, read_logs) -> str:
    """Run the copying DAG into ``out``; check it failed, wrote nothing, leaked no key; the logs, plain."""
    result = run_dag(f"luma_test_image_copy_{mode}", {"output_path": f"file://{out}/"})
    assert result.state == "failed"
    assert not out.exists() or not any(out.iterdir())
    logs = read_logs()
    assert API_KEY not in without_mask_secret_requests(logs)
    return plain_text(logs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("asset_url", "reason"),
    [
        # Refused as soon as the generation completes: not https, not the connection's origin.
        ("file:///etc/passwd", "was refused: its scheme 'file' is not allowed"),
        ("http://169.254.169.254/latest/meta-data/iam/", "was refused: its scheme 'http' is not allowed"),
        ("http://127.0.0.1:{other}/x.png", "was refused: its scheme 'http' is not allowed"),
        # https, so returned as it is; the copy looks the host up and refuses to fetch it.
        # Link-local over https: fe80::1 without a zone cannot be reached, should the check ever slip.
        ("https://[fe80::1]/latest/meta-data/iam/", "fe80::1, a link-local address"),
        ("https://[::ffff:127.0.0.1]:{other}/x.png", "IPv4-mapped form of a loopback address"),
        ("https://127.0.0.1:{other}/x.png", "127.0.0.1, a loopback address"),
        ("https://localhost:{other}/x.png", "localhost resolves to"),
    ],
)
def test_hostile_asset_url_fails_the_task_and_fetches_nothing(
    run_dag, emulator, other_host, tmp_path, read_logs, mode, asset_url, reason
):
    url = asset_url.format(other=other_host.port)
    emulator.configure(faults=[FaultRule(route="GET /generations/*", kind="asset_url", url=url)])
    logs = run_refused(run_dag, mode, tmp_path / "out", read_logs)
    if url.startswith("https:"):
        assert f"Refused to download the asset URL {url}: " in logs
    else:
        assert f"completed with the asset URL {url}, which was refused" in logs
    assert reason in logs
    assert other_host.connections == 0
    assert emulator.stats.creates == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["http://127.0.0.1:{other}/x.png", "file:///etc/passwd"])
def test_asset_redirect_to_another_host_is_refused(
    run_dag, emulator, other_host, tmp_path, read_logs, mode, target
):
    url = target.format(other=other_host.port)
    emulator.configure(faults=[FaultRule(route="GET /assets/*", kind="asset_redirect", url=url)])
    logs = run_refused(run_dag, mode, tmp_path / "out", read_logs)
    assert f"Refused to download the redirect from {emulator.url}/assets/" in logs
    assert f"to {url}: " in logs
    assert other_host.connections == 0
    assert emulator.stats.requests["GET /assets/{name}"] == 1  # the asset URL itself was fetched


def test_asset_redirect_within_the_connections_origin_is_followed(run_dag, emulator, tmp_path):
    emulator.configure(
        faults=[FaultRule(route="GET /assets/*.png", kind="asset_redirect", url="/assets/blob/1000")]
    )
    out = tmp_path / "out"
    result = run_dag("luma_test_image_copy_worker", {"output_path": f"file://{out}/"})
    assert result.state == "success"
    [stored] = out.iterdir()
    assert stored.suffix == ".png"
    assert stored.stat().st_size == 1000  # the blob the redirect pointed at, relative Location resolved
