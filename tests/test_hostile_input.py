"""
Hostile input, second round: a copy's deadline holds from the first byte to the last, passwords
and signed URLs stay out of logs and errors, a stored copy is served only as the task's own file.

The emulator's locked control routes are tried in ``tests/emulator/test_emu_admin.py``, ``ALL_PROXY``
in ``tests/test_proxy.py`` and the gallery in a browser in ``tests/e2e/test_e2e_7_hostile_data.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

from airflow_provider_luma.exceptions import (
    LumaAssetCopyError,
    LumaConnectionConfigError,
    LumaValidationError,
)
from airflow_provider_luma.hooks.luma import LumaHook
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
from airflow_provider_luma.storage import copy_asset, destination_for
from airflow_provider_luma.testing import FaultRule

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# -- a copy's deadline covers the whole copy ----------------------------------------------------------


@contextlib.contextmanager
def http_server(answer: Callable[[socket.socket, int], None]) -> Iterator[str]:
    """
    A loopback HTTP server: ``answer(connection, n)`` answers the n-th connection (from 0), each in
    a thread of its own; the URL of ``/asset.png`` on it.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        count = 0
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(connection, count), daemon=True).start()
            count += 1

    def handle(connection: socket.socket, n: int) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            answer(connection, n)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/asset.png"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def trickle(connection: socket.socket, data: bytes, pause: float) -> None:
    for byte in data:
        connection.sendall(bytes([byte]))
        time.sleep(pause)


def test_trickled_headers_meet_the_copys_deadline(tmp_path):
    """One header byte every 0.3 s never trips the read timeout; the copy's deadline still ends it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Padding: " + b"x" * 200 + b"\r\n"

    def answer(connection: socket.socket, n: int) -> None:
        trickle(connection, head, 0.3)

    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    started = time.monotonic()
    with (
        http_server(answer) as url,
        pytest.raises(LumaAssetCopyError, match=r"took longer than its deadline of 1.5 s"),
    ):
        copy_asset(url, destination, trusted_origin=url, deadline_seconds=1.5)
    assert time.monotonic() - started < 4
    assert not destination.exists()


def test_slow_redirects_meet_the_copys_deadline(tmp_path):
    """Four redirects, each answered after 0.8 s, then the asset: the deadline of 2 s covers them all."""
    body = b"\x89PNG" + b"x" * 1000

    def answer(connection: socket.socket, n: int) -> None:
        time.sleep(0.8)
        if n < 4:
            # Connection: close, as the server hangs up after each answer (no reuse of a closed one).
            head = b"HTTP/1.1 302 Found\r\nLocation: /asset.png\r\nContent-Length: 0\r\n"
            head += b"Connection: close\r\n\r\n"
            connection.sendall(head)
        else:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    started = time.monotonic()
    with (
        http_server(answer) as url,
        pytest.raises(LumaAssetCopyError, match=r"took longer than its deadline of 2 s"),
    ):
        copy_asset(url, destination, trusted_origin=url, deadline_seconds=2)
    assert time.monotonic() - started < 3.5
    assert not destination.exists()


def test_a_body_without_a_length_cut_at_the_deadline_is_not_taken_for_a_whole_one(tmp_path):
    """A body that runs until the connection closes ends quietly when cut: it must not pass as the asset."""

    def answer(connection: socket.socket, n: int) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
        trickle(connection, b"x" * 100, 0.1)

    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with (
        http_server(answer) as url,
        pytest.raises(
            LumaAssetCopyError, match=r"took longer than its deadline of 1 s \([0-9,]+ bytes by then\)"
        ),
    ):
        copy_asset(url, destination, trusted_origin=url, deadline_seconds=1)
    assert not destination.exists()


def test_a_failed_copy_quotes_no_query_string(tmp_path):
    """requests says which path and query it asked for when it fails: the error keeps neither's query."""
    closed = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/x.png?X-Amz-Signature=SIGNED-SECRET"
    closed.close()  # nothing listens there now: connection refused
    with pytest.raises(LumaAssetCopyError, match="failed") as caught:
        copy_asset(url, destination_for(f"file://{tmp_path}/x.png", "", "g"), trusted_origin=url)
    assert "SIGNED-SECRET" not in str(caught.value)
    assert "/x.png?***" in str(caught.value)


@pytest.mark.parametrize("location", ["http://[::1/x", "//[bad"])
def test_a_redirect_that_does_not_parse_is_a_final_refusal(tmp_path, location):
    def answer(connection: socket.socket, n: int) -> None:
        head = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        connection.sendall(head.encode())

    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with http_server(answer) as url, pytest.raises(LumaAssetCopyError, match="does not parse") as caught:
        copy_asset(url, destination, trusted_origin=url, deadline_seconds=10)
    assert isinstance(caught.value, AirflowFailException)
    assert not destination.exists()


@pytest.mark.parametrize("length", ["\u00b2", "\uff11\uff10", "1_000", " ", "10, 1O", "-5"])
def test_a_content_length_that_is_not_ascii_digits_fails_with_the_copys_error(tmp_path, length):
    """``"²"`` is a digit to ``str.isdigit`` and not to ``int``: the header is parsed strictly."""

    def answer(connection: socket.socket, n: int) -> None:
        connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode() + b"x" * 10)

    destination = destination_for(f"file://{tmp_path}/x.png", "", "g")
    with (
        http_server(answer) as url,
        pytest.raises(LumaAssetCopyError, match="invalid Content-Length") as caught,
    ):
        copy_asset(url, destination, trusted_origin=url, deadline_seconds=10)
    assert isinstance(caught.value, AirflowFailException)  # the same answer would come again
    assert not destination.exists()


# -- passwords and signed URLs stay out of errors and logs --------------------------------------------

PASSWORDS = ["S3cr#t", "S3c?r3t", "S3c/r3t", "S3c@r#t"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_in_the_connection_host_is_never_shown(monkeypatch, password):
    host = f"http://admin:{password}@proxy.local:8080/dream-machine/v1"
    connection = {"conn_type": "luma", "password": "the-api-key", "host": host}
    monkeypatch.setenv("AIRFLOW_CONN_LUMA_PASSWORDS", json.dumps(connection))
    with pytest.raises(LumaConnectionConfigError, match="has credentials in its host") as caught:
        LumaHook(luma_conn_id="luma_passwords").get_credits()
    assert "luma_passwords" in str(caught.value)
    assert password not in str(caught.value)
    assert password.split("#")[0].split("?")[0].split("/")[0] not in str(caught.value)


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_in_a_url_parameter_is_never_shown(password):
    operator = LumaImageGenerateOperator(
        task_id="t", prompt="a fox", callback_url=f"https://admin:{password}@hooks.example/luma"
    )
    with pytest.raises(LumaValidationError, match=r"callback_url.*must not carry credentials") as caught:
        operator.build_request()
    assert password.split("#")[0].split("?")[0].split("/")[0] not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://admin:S3cr#t@proxy.local:8080/v1", "http://***@proxy.local:8080/v1"),
        ("http://admin:S3c?r@proxy/v1", "http://***@proxy/v1"),
        ("http://admin:p/w@proxy/v1", "http://***@proxy/v1"),
        ("https://u:p@cdn.example/x.png?e=a@b", "https://***@cdn.example/x.png?***"),
        ("https://cdn.example/x.png?X-Amz-Signature=abc#frag", "https://cdn.example/x.png?***"),
        ("https://medium.example/@user/post", "https://medium.example/@user/post"),
        ("https://cdn.example:8443/x.png?e=a@b", "https://***"),  # or a digits-first password
        ("http://admin:1234/x@proxy/v1", "http://***"),
        ("http://[::1]:8080/x.png?e=a@b", "http://***"),
        ("http://[::1]/x.png?e=a@b", "http://[::1]/x.png?***"),
        ("user:pw@host/x", "***@host/x"),
        ({"url": "https://cdn.example/x.png?sig=abc"}, "{'url': 'https://cdn.example/x.png?***'}"),
    ],
)
def test_logs_and_errors_show_a_url_without_its_secrets(url, shown):
    from airflow_provider_luma.redaction import redacted

    assert redacted(url) == shown


def test_a_port_and_an_at_sign_in_the_query_are_a_valid_reference_url():
    """Not credentials: accepted (and sent whole), though logs hide all of it after the scheme."""
    url = "https://cdn.example:8443/ref.png?signer=bot@example.com"
    operator = LumaImageGenerateOperator(task_id="t", prompt="a fox", image_ref=[url])
    assert operator.build_request().body["image_ref"] == [{"url": url}]


@pytest.mark.parametrize("mode", ["deferrable", "worker"])
def test_signed_urls_reach_xcom_but_never_the_logs(run_dag, emulator, read_logs, tmp_path, mode):
    """
    A callback URL with a token, a presigned reference and a signed asset URL: the logs show their
    scheme, host and path; the full asset URL is the task's to keep, in XCom.
    """
    secrets = {"callback": "CALLBACK-TOKEN-1", "reference": "REFERENCE-SIG-2", "asset": "ASSET-SIG-3"}
    signed_asset = f"{emulator.url}/assets/blob/4096?X-Amz-Signature={secrets['asset']}"
    emulator.configure(faults=[FaultRule(route="GET /generations/*", kind="asset_url", url=signed_asset)])
    result = run_dag(
        f"luma_test_signed_urls_{mode}",
        {
            "callback_url": f"https://hooks.example.invalid/luma?token={secrets['callback']}",
            "reference_url": f"https://refs.example/ref.png?X-Amz-Signature={secrets['reference']}",
            "output_path": f"file://{tmp_path}/out/",
        },
    )
    assert result.state == "success"
    generation = result.xcom("generate", "generation")
    assert generation["assets"]["image"] == signed_asset  # the user's data, whole
    # Without debug lines: the provider logs nothing at debug, and Airflow 3.0's dag.test() prints
    # the task SDK's messages at debug, rendered fields and XComs whole (the user's data, as stored).
    logs = "\n".join(line for line in read_logs().splitlines() if not re.search(r"\[debug\b|^DEBUG\b", line))
    assert f"{emulator.url}/assets/blob/4096" in logs  # the asset URL is logged, without its query
    assert "https://hooks.example.invalid/luma?***" in logs  # and so is the request, its URLs too
    assert "https://refs.example/ref.png?***" in logs
    for name, secret in secrets.items():
        assert secret not in logs, name
    assert os.listdir(tmp_path / "out")


# -- the gallery serves a stored copy only as the task's own regular file -------------------------------


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")
def test_a_link_in_the_output_folder_is_never_served(tmp_path):
    """
    A link planted in the task's output folder, named as the task would name its copy, to an image
    elsewhere: the stored-copy route refuses it (404) before a byte is read, and so for a hard link
    and a FIFO; the task's own regular file is served.
    """
    from fastapi import HTTPException

    from airflow_provider_luma.plugins.gallery_app import _read_stored
    from airflow_provider_luma.plugins.gallery_data import _may_be_own_file

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    secret = elsewhere / "secret.png"
    secret.write_bytes(b"SECRET-not-for-the-gallery")
    (out / "symlink.png").symlink_to(secret)
    os.link(secret, out / "hardlink.png")
    os.mkfifo(out / "fifo.png")
    (out / "folder.png").mkdir()
    own = out / "own.png"
    own.write_bytes(b"\x89PNG the task's own copy")
    for name in ("symlink.png", "hardlink.png", "fifo.png", "folder.png"):
        with pytest.raises(HTTPException) as refused:
            b"".join(_read_stored(f"file://{out}/{name}"))
        assert refused.value.status_code == 404, name
        assert not _may_be_own_file(f"file://{out}/{name}"), name  # no card offers it either
    assert _may_be_own_file(f"file://{own}")
    assert b"".join(_read_stored(f"file://{own}")) == own.read_bytes()
    assert b"".join(_read_stored(str(own))) == own.read_bytes()


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")
@pytest.mark.parametrize(
    ("asset_url", "thumbnail"),
    [
        ("https://cdn.example/g-1.png", True),
        ("http://169.254.169.254/latest/meta-data/x.png", False),
        ("http://intranet.local/admin/delete?all=1", False),
        ("HTTP://10.0.0.1/x.png", False),
    ],
)
def test_a_page_loads_thumbnails_over_https_only(asset_url, thumbnail):
    """
    A planted ``http`` asset URL stays a link a person may follow, never an image every viewer's
    browser fetches as the page loads; the policy itself allows images over ``https`` only.
    """

    from starlette.requests import Request

    from airflow_provider_luma.plugins.gallery_app import _card_view, page_policy
    from airflow_provider_luma.plugins.gallery_data import GenerationCard

    generation = {"id": "g-1", "state": "completed", "assets": {"image": asset_url}}
    card = GenerationCard("generate", -1, "success", 1.0, generation, stored_path=None)
    request = Request({"type": "http", "path_params": {"dag_id": "d", "run_id": "r"}, "root_path": ""})
    view = _card_view(request, card)
    assert view["thumbnail_url"] == (asset_url if thumbnail else None)
    assert view["asset_url"] == asset_url  # still linked
    policy = page_policy("nonce")
    for directive in ("img-src", "media-src"):
        sources = re.search(rf"{directive} ([^;]*)", policy).group(1).split()
        assert sources == ["'self'", "https:"], policy
