"""Copying assets to storage: constant memory whatever the size, identical bytes, clear failures."""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import requests
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma.downloads import MAX_REDIRECTS
from airflow_provider_luma.exceptions import (
    LumaAssetCopyError,
    LumaAssetTooLargeError,
    LumaAssetUrlRefusedError,
    LumaUnsafeAssetUrlError,
)
from airflow_provider_luma.hooks.luma import LumaHook
from airflow_provider_luma.storage import copy_asset, destination_for
from airflow_provider_luma.testing import FaultRule
from tests.conftest import API_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator

SIZE = 200 * 1024 * 1024
# Runs in a fresh interpreter so that its peak RSS says what the copy itself cost.
COPY_AND_MEASURE = textwrap.dedent(
    """
    import resource, sys, tracemalloc
    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from airflow_provider_luma.storage import copy_asset

    url, warmup_url, destination = sys.argv[1:]
    copy_asset(warmup_url, ObjectStoragePath(destination), trusted_origin=url)  # imports, pools, buffers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    written = copy_asset(url, ObjectStoragePath(destination), trusted_origin=url)
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
        copy_asset(
            f"{emulator.url}/assets/00000000-0000-4000-8000-000000000000.png",
            destination,
            trusted_origin=emulator.base_url,
        )


@contextlib.contextmanager
def one_answer_server(answer: bytes, received: list[bytes] | None = None) -> Iterator[str]:
    """
    A real HTTP server on loopback that sends ``answer`` (head and body) to one client, then hangs up.

    The request's bytes are appended to ``received``, when given.
    """
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            request = connection.recv(65536)
            if received is not None:
                received.append(request)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/asset.png"
    finally:
        thread.join(10)
        listener.close()


def test_download_that_breaks_off_fails_clearly(tmp_path):
    """The CDN promised 1 MB and hung up after 300 kB: no partial file passes for a whole one."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with (
        one_answer_server(head + b"x" * 300_000) as url,
        pytest.raises(LumaAssetCopyError, match=r"broke off after [0-9,]+ bytes of the 1,000,000 announced"),
    ):
        copy_asset(url, destination, chunk_bytes=64 * 1024, trusted_origin=url)
    assert not (tmp_path / "x.png").exists()


def test_chunked_download_is_copied_whole(tmp_path):
    body = bytes(range(256)) * 4000  # ~1 MB, not a multiple of the chunk size below
    pieces = [body[i : i + 70_000] for i in range(0, len(body), 70_000)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with one_answer_server(head + chunked) as url:
        assert copy_asset(url, destination, chunk_bytes=64 * 1024, trusted_origin=url) == len(body)
    assert (tmp_path / "x.png").read_bytes() == body


def test_chunked_download_that_breaks_off_fails_clearly(tmp_path):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with (
        one_answer_server(head + b"100000\r\n" + b"x" * 5000) as url,  # a 1 MiB chunk cut at 5 kB
        pytest.raises(LumaAssetCopyError, match="broke off"),
    ):
        copy_asset(url, destination, chunk_bytes=64 * 1024, trusted_origin=url)
    assert not (tmp_path / "x.png").exists()


def test_no_credentials_reach_the_asset_host(tmp_path, monkeypatch, emulator):
    """Not the API key, and not a ~/.netrc entry requests would otherwise add for the asset host."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login luma password {API_KEY}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    received: list[bytes] = []
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with one_answer_server(head + b"hello", received) as url:
        assert copy_asset(url, destination, trusted_origin=url) == 5
    [request] = received
    assert request.startswith(b"GET /asset.png HTTP/1.1\r\n")
    assert b"authorization:" not in request.lower()
    assert API_KEY.encode() not in request


def test_refused_asset_url_is_final_and_writes_nothing(tmp_path, emulator):
    destination = destination_for(f"file://{tmp_path}/out/x.png", "", "g")
    with pytest.raises(LumaAssetUrlRefusedError, match="scheme 'http' is not allowed") as caught:
        copy_asset(f"{emulator.url}/assets/blob/10", destination, trusted_origin=None)
    assert isinstance(caught.value, AirflowFailException)  # the same URL would be refused again
    assert isinstance(caught.value, LumaAssetCopyError)
    assert not (tmp_path / "out").exists()
    assert emulator.stats.total_requests == 0


def test_every_redirect_is_checked_before_it_is_followed(tmp_path, emulator):
    emulator.configure(
        faults=[
            FaultRule(route="GET /assets/blob/10", kind="asset_redirect", url="/assets/blob/11"),
            FaultRule(route="GET /assets/blob/11", kind="asset_redirect", url="https://[fe80::1]/x"),
        ]
    )
    destination = destination_for(f"file://{tmp_path}/x.bin", "", "g")
    with pytest.raises(LumaAssetUrlRefusedError) as caught:
        copy_asset(f"{emulator.url}/assets/blob/10", destination, trusted_origin=emulator.base_url)
    assert str(caught.value) == (
        f"Refused to download the redirect from {emulator.url}/assets/blob/11 to https://[fe80::1]/x: "
        "fe80::1, a link-local address (where cloud metadata services answer); only public hosts "
        "(or the connection's own origin) may serve assets"
    )
    assert emulator.stats.requests["GET /assets/blob/{size}"] == 2
    assert not destination.exists()


def test_redirects_are_followed_a_few_times_only(tmp_path, emulator):
    emulator.configure(faults=[FaultRule(route="GET /assets/blob/10", kind="asset_redirect", url="10")])
    destination = destination_for(f"file://{tmp_path}/x.bin", "", "g")
    with pytest.raises(LumaAssetCopyError, match=f"redirected more than {MAX_REDIRECTS} times"):
        copy_asset(f"{emulator.url}/assets/blob/10", destination, trusted_origin=emulator.base_url)
    assert emulator.stats.requests["GET /assets/blob/{size}"] == MAX_REDIRECTS + 1
    assert not destination.exists()


@contextlib.contextmanager
def trickle_server(head: bytes, pause: float) -> Iterator[str]:
    """A loopback HTTP server that sends ``head``, then one byte every ``pause`` seconds until hung up on."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(head)
            with contextlib.suppress(OSError):
                while not stop.wait(pause):
                    connection.sendall(b"x")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/asset.png"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_a_trickle_meets_the_deadline_and_leaves_no_file(tmp_path):
    """A byte every 0.2 s never trips the read timeout; the whole copy's deadline still ends it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    started = time.monotonic()
    with (
        trickle_server(head, pause=0.2) as url,
        pytest.raises(
            LumaAssetCopyError, match=r"took longer than its deadline of 1.5 s \([0-9,]+ bytes by then\)"
        ),
    ):
        copy_asset(url, destination, trusted_origin=url, deadline_seconds=1.5)
    assert 1.5 <= time.monotonic() - started < 5
    assert not destination.exists()


def test_an_announced_size_over_the_cap_is_refused_before_writing(tmp_path):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 3000000\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/out/x.png", "", "g")
    with (
        one_answer_server(head + b"x" * 1000) as url,
        pytest.raises(
            LumaAssetTooLargeError, match=r"announces 3,000,000 bytes, more than max_asset_bytes=2,000,000"
        ),
    ):
        copy_asset(url, destination, trusted_origin=url, max_bytes=2_000_000)
    assert not (tmp_path / "out").exists()  # not even the folder


def test_a_body_over_the_cap_without_a_length_is_cut_and_removed(tmp_path):
    piece = b"x" * 100_000
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(30)) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with (
        one_answer_server(head + chunked) as url,
        pytest.raises(
            LumaAssetTooLargeError, match="sends more bytes, more than max_asset_bytes=1,000,000"
        ) as caught,
    ):
        copy_asset(url, destination, chunk_bytes=64 * 1024, trusted_origin=url, max_bytes=1_000_000)
    assert isinstance(caught.value, AirflowFailException)  # the same asset would be too large again
    assert not destination.exists()


def test_a_connection_that_reaches_a_private_address_is_refused_before_a_byte_is_sent(tmp_path, monkeypatch):
    """
    DNS rebinding: the name resolves to a public address when the URL is checked, and to loopback a
    moment later when the connection is made. The connection's own peer address is what is refused.

    The resolver is the one thing stood in for (no DNS server answers here); the connection is real.
    """
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(5)
                received.append(connection.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    real_getaddrinfo = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]])

    def rebinding(host, *args, **kwargs):
        if host == "assets.rebind.test":
            return next(answers, real_getaddrinfo("127.0.0.1", *args, **kwargs))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    try:
        with pytest.raises(LumaAssetUrlRefusedError) as caught:
            copy_asset(f"https://assets.rebind.test:{port}/x.png", destination, trusted_origin=None)
    finally:
        thread.join(10)
        listener.close()
    assert str(caught.value) == (
        f"Refused to download from assets.rebind.test:{port}: the connection reached 127.0.0.1, a loopback "
        "address; only public hosts (or the connection's own origin) may serve assets"
    )
    assert received == [b""]  # connected, then hung up on: no TLS hello, no request
    assert not destination.exists()


# -- LumaHook.copy_generation_asset: what output_path does, for any task ----------------------------


def finished_image(hook: LumaHook, emulator) -> dict:
    created = hook.create_image({"generation_type": "image", "model": "photon-1", "prompt": "a kite"})
    emulator.complete(created["id"])
    return hook.get_generation(created["id"])


def test_hook_copies_a_generations_asset_into_a_folder(emulator, tmp_path):
    hook = LumaHook()
    generation = finished_image(hook, emulator)
    url = generation["assets"]["image"]
    extension = posixpath.splitext(urlsplit(url).path)[1]
    assert extension  # the folder's file keeps the asset's extension

    path = hook.copy_generation_asset(generation, f"file://{tmp_path}/out/")

    assert path == f"file://{tmp_path}/out/{generation['id']}{extension}"
    written = (tmp_path / "out" / f"{generation['id']}{extension}").read_bytes()
    assert written == requests.get(url, timeout=30).content
    assert len(written) > 0


def test_hook_copies_to_a_file_path_with_limits(emulator, tmp_path):
    hook = LumaHook()
    generation = finished_image(hook, emulator)

    path = hook.copy_generation_asset(generation, str(tmp_path / "picked.img"), max_bytes=50 << 20)

    assert path.endswith("/picked.img")
    assert (tmp_path / "picked.img").read_bytes() == requests.get(
        generation["assets"]["image"], timeout=30
    ).content
    with pytest.raises(LumaAssetTooLargeError):
        hook.copy_generation_asset(generation, str(tmp_path / "tiny.img"), max_bytes=10)
    assert not (tmp_path / "tiny.img").exists()


@pytest.mark.parametrize(
    "asset",
    [
        "http://127.0.0.1:1/assets/x.png",  # plain http, not the connection's origin
        "http://cdn.example/x.png",
        "javascript:fetch('/api/v2/connections')",
        "https://user:secret@cdn.example/x.png",
    ],
)
def test_hook_refuses_an_untrusted_asset_url_before_copying(emulator, tmp_path, monkeypatch, asset):
    import airflow_provider_luma.storage as storage

    def no_copy(*args, **kwargs):
        raise AssertionError("copy_asset was called for a refused URL")

    monkeypatch.setattr(storage, "copy_asset", no_copy)
    generation = {
        "id": "00000000-0000-4000-8000-000000000001",
        "state": "completed",
        "assets": {"image": asset},
    }

    with pytest.raises(LumaUnsafeAssetUrlError) as caught:
        LumaHook().copy_generation_asset(generation, f"file://{tmp_path}/out/")

    assert isinstance(caught.value, AirflowFailException)  # final: the same URL is refused again
    assert "secret" not in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert emulator.stats.total_requests == 0
