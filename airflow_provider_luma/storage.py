"""
Copying a generated asset to storage the user owns: Luma's asset URLs can expire.

The copy streams, so memory stays flat whatever the asset's size, and it is bounded: at most
``max_bytes`` (a larger announced size is refused before anything is written), within a total
deadline, and every byte the CDN announced must arrive. A copy that fails for any reason leaves no
file behind.

The asset URL comes from Luma's answer, so it is untrusted: it and every redirect it leads to are
checked by :mod:`airflow_provider_luma.asset_urls` before anything is fetched from them, and the
address a connection actually reached is checked again as soon as it is open, before a byte is
sent (:func:`_peer_checking_session`), so a DNS answer that changes between the check and the
connection (DNS rebinding) reaches nothing. No credentials are ever sent: asset URLs are public
CDN links on another host, fetched with a ``requests`` session of their own (never the hook's
client, which carries the API key).

``requests``, as the hook's worker calls: a 1 GiB copy through httpx ran at about half the speed
(``python -m benchmarks.bench_http_clients``), its reads being 64 KiB pieces copied three times on
their way out of h11.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import socket
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma import asset_urls
from airflow_provider_luma.exceptions import LumaError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.providers.common.compat.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

#: Write size. Small enough to stay in the CPU cache between the socket read and the file write:
#: a 1 GiB copy ran about twice as fast as with 1 MiB or 4 MiB chunks, on a par with curl
#: (the "asset copy" rows of ``make bench``).
CHUNK_BYTES = 256 << 10
#: (connect, read) seconds for asset downloads: how long to wait for a connection, and for the next
#: bytes once it is open (the whole copy is bounded by its deadline).
DOWNLOAD_TIMEOUT = (5.0, 60.0)
#: The default ``max_bytes``: far above any image or video Luma makes today.
DEFAULT_MAX_BYTES = 2 << 30
#: The default ``deadline_seconds`` of a whole copy (2 GiB at 1.2 MB/s).
DEFAULT_DEADLINE_SECONDS = 30 * 60.0
#: Redirects followed at most from an asset URL; each one is checked like the URL itself.
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class LumaAssetCopyError(LumaError):
    """The asset could not be copied whole to its destination."""


class LumaAssetUrlRefusedError(LumaAssetCopyError, AirflowFailException):
    """The asset URL, a redirect, or the address a connection reached is not allowed (final)."""


class LumaAssetTooLargeError(LumaAssetCopyError, AirflowFailException):
    """The asset is larger than ``max_bytes`` (final: it will not shrink)."""


def store_asset(
    generation: dict[str, Any],
    output_path: str | ObjectStoragePath,
    trusted_origin: str | None,
    *,
    max_bytes: int | None = None,
    deadline_seconds: float | None = None,
) -> str:
    """
    Copy a completed generation's asset (its image, else its video) to ``output_path``; return the path.

    The asset URL is untrusted input and is checked first, as the operators check it: it must be
    ``https``, or on the connection's own origin; the copy then downloads only from public
    ``https`` hosts or that origin, redirects and resolved addresses included. Nothing is written
    when the URL is refused, and a copy that fails leaves no partial file.

    :param generation: a completed generation.
    :param output_path: a file, or a folder ending with "/", in which the file is named after the
        generation id, with the asset URL's extension.
    :param trusted_origin: the connection's base URL.
    :param max_bytes: the largest asset copied (default 2 GiB); a larger one is refused and nothing
        is left behind.
    :param deadline_seconds: the most the copy may take, in seconds (default 30 minutes).
    :raises LumaUnsafeAssetUrlError: the asset URL may not be used (final; nothing was downloaded).
    :raises LumaError: the generation has no asset URL.
    :raises LumaAssetUrlRefusedError: the download, a redirect or the address reached was refused.
    :raises LumaAssetTooLargeError: the asset is over ``max_bytes``.
    :raises LumaAssetCopyError: the download failed or ran out of time.
    """
    from airflow_provider_luma.generations import checked_asset_url

    url = checked_asset_url(generation, trusted_origin)
    destination = destination_for(output_path, url, str(generation.get("id")))
    copy_asset(
        url,
        destination,
        trusted_origin=trusted_origin,
        max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
        deadline_seconds=DEFAULT_DEADLINE_SECONDS if deadline_seconds is None else deadline_seconds,
    )
    return str(destination)


def destination_for(output_path: str | ObjectStoragePath, source_url: str, name: str) -> ObjectStoragePath:
    """
    Where to store an asset: ``output_path`` itself, or ``output_path/<name><ext>`` when it ends with "/".

    :param output_path: a file or folder URL (``file://``, ``s3://``, ``gs://``...) or local path.
    :param source_url: the asset URL; its extension is kept when a folder is given.
    :param name: the file name (without extension) to use in a folder, e.g. the generation id.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    text = str(output_path)
    if text.endswith("/"):
        extension = posixpath.splitext(urlsplit(source_url).path)[1]
        return ObjectStoragePath(text) / f"{name}{extension}"
    return ObjectStoragePath(text)


def copy_asset(
    source_url: str,
    destination: ObjectStoragePath,
    chunk_bytes: int = CHUNK_BYTES,
    *,
    trusted_origin: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> int:
    """
    Stream ``source_url`` to ``destination``; return the number of bytes written.

    Nothing is fetched from, and nothing is written for, a URL or redirect that
    :func:`airflow_provider_luma.asset_urls.refusal` refuses, nor over a connection that reached a
    non-public address: that raises :class:`LumaAssetUrlRefusedError`.

    :param source_url: the asset's URL.
    :param destination: where to write it (parents are created).
    :param chunk_bytes: size of each chunk read and written.
    :param trusted_origin: the connection's base URL: its exact scheme, host and port may serve
        assets even over ``http`` or on a private address (the emulator, a proxy). None allows
        public ``https`` hosts only.
    :param max_bytes: the largest asset copied; a larger one raises :class:`LumaAssetTooLargeError`.
    :param deadline_seconds: the most seconds the whole copy may take, redirects included.
    :raises LumaAssetCopyError: the copy failed (the message says why); no file is left.
    """
    deadline = time.monotonic() + deadline_seconds
    with _download(source_url, trusted_origin) as response:
        if response.status_code != 200:
            raise LumaAssetCopyError(
                f"Downloading {_shown(source_url)} answered HTTP {response.status_code}; asset URLs expire, "
                "so copy assets soon after they are generated"
            )
        announced = _content_length(response.headers)
        if announced is not None and announced > max_bytes:
            raise LumaAssetTooLargeError(_too_large(source_url, f"announces {announced:,} bytes", max_bytes))
        if destination.protocol in ("", "file", "local"):
            destination.parent.mkdir(parents=True, exist_ok=True)  # object stores have no folders
        written = 0
        try:
            with _cut_off_at(deadline, response), destination.open("wb") as out:
                # requests undoes gzip and the like; memory stays at one chunk whatever the size.
                for chunk in response.iter_content(chunk_size=chunk_bytes):
                    written += len(chunk)
                    if written > max_bytes:
                        raise LumaAssetTooLargeError(_too_large(source_url, "sends more bytes", max_bytes))
                    out.write(chunk)
            if announced is not None and response.raw.tell() != announced:
                raise LumaAssetCopyError(
                    f"Copied {response.raw.tell():,} bytes of {_shown(source_url)} to {destination}, "
                    f"but Luma announced {announced:,}"
                )
        except BaseException as exc:  # a kill of the task too: a partial file must not pass for the asset
            _remove_partial_copy(destination)
            if not isinstance(exc, Exception) or isinstance(exc, LumaAssetCopyError):
                raise  # a kill, or our own verdict
            if time.monotonic() >= deadline:  # the connection was shut down at the deadline
                raise LumaAssetCopyError(
                    f"Downloading {_shown(source_url)} to {destination} took longer than its deadline of "
                    f"{deadline_seconds:g} s ({written:,} bytes by then)"
                ) from exc
            if not _broke_off(exc):
                raise  # a full disk, say: its own message says it
            of_announced = f" of the {announced:,} announced" if announced is not None else ""
            raise LumaAssetCopyError(
                f"Downloading {_shown(source_url)} to {destination} broke off after {written:,} bytes"
                f"{of_announced}: {exc}"
            ) from exc
    return written


def _broke_off(exc: BaseException) -> bool:
    """Whether ``exc`` is what a connection that broke off mid-body raises (a full disk is not)."""
    import http.client

    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    return isinstance(
        exc,
        (ConnectionError, TimeoutError, http.client.HTTPException, Urllib3Error, requests.RequestException),
    )


@contextlib.contextmanager
def _cut_off_at(deadline: float, response: Any) -> Iterator[None]:
    """
    Shut the response's connection down at ``deadline``, so that a blocked read ends there.

    The read timeout bounds each read, not their sum: without this a trickle of a byte a minute
    would never end.
    """

    def cut() -> None:
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@contextlib.contextmanager
def _download(source_url: str, trusted_origin: str | None) -> Iterator[Any]:
    """GET ``source_url`` as a stream, following redirects one at a time so that each is checked."""
    import requests

    with _peer_checking_session(trusted_origin) as session:
        url, came_from = source_url, None
        for _ in range(MAX_REDIRECTS + 1):
            _check_asset_url(url, trusted_origin, came_from)
            # A session of its own, so no header of the hook's client can reach the asset host; the
            # no-op auth keeps requests from adding credentials of a ~/.netrc entry for that host.
            try:
                response = session.get(
                    url, stream=True, timeout=DOWNLOAD_TIMEOUT, allow_redirects=False, auth=_no_credentials
                )
            except requests.RequestException as exc:
                raise LumaAssetCopyError(f"Downloading {_shown(url)} failed: {exc}") from exc
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or not location:
                with response:
                    yield response
                return
            response.close()
            came_from, url = url, urljoin(url, location)
    raise LumaAssetCopyError(
        f"Downloading {_shown(source_url)} was redirected more than {MAX_REDIRECTS} times"
    )


def _peer_checking_session(trusted_origin: str | None) -> Any:
    """
    A ``requests`` session whose direct connections check the address they reached, before TLS.

    Proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) and ``REQUESTS_CA_BUNDLE`` are read from
    the environment. Behind a proxy, the proxy connects to the asset host: the host's addresses are
    then checked only before the request (the proxy's own rules apply to what it reaches).
    """
    import requests
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    trusted = asset_urls.Origin.of(trusted_origin) if trusted_origin else None

    def checked(connection_class: type) -> type:
        class PeerChecked(connection_class):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                try:
                    _check_peer(str(self.host), int(self.port), sock.getpeername(), trusted)
                except BaseException:
                    sock.close()
                    raise
                return sock

        return PeerChecked

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = checked(HTTPConnection)

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = checked(HTTPSConnection)

    class PeerCheckingAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}

    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, PeerCheckingAdapter())
    return session


def _check_peer(host: str, port: int, peer: Any, trusted: asset_urls.Origin | None) -> None:
    """Refuse a connection to ``host:port`` that reached a non-public ``peer`` (but the trusted origin)."""
    if trusted is not None and (host.strip("[]").rstrip(".").lower(), port) == (trusted.host, trusted.port):
        return  # the connection's own origin may be on loopback or a private network
    reason = asset_urls.non_public_reason(str(peer[0]))
    if reason:
        raise LumaAssetUrlRefusedError(
            f"Refused to download from {host}:{port}: the connection reached {peer[0]}, {reason}; only "
            "public hosts (or the connection's own origin) may serve assets"
        )


def _no_credentials(request: Any) -> Any:
    return request


def _shown(url: str) -> str:
    return asset_urls.redacted(url)


def _too_large(source_url: str, what: str, max_bytes: int) -> str:
    return (
        f"Refused to copy {_shown(source_url)}: it {what}, more than max_asset_bytes={max_bytes:,}; raise "
        "max_asset_bytes if an asset this large is expected"
    )


def _check_asset_url(url: str, trusted_origin: str | None, came_from: str | None) -> None:
    what = (
        f"the redirect from {_shown(came_from)} to {_shown(url)}"
        if came_from
        else f"the asset URL {_shown(url)}"
    )
    try:
        reason = asset_urls.refusal(url, trusted_origin)
    except OSError as exc:  # the name did not resolve: a network problem, worth a retry
        raise LumaAssetCopyError(f"Could not look up the host of {what}: {exc}") from exc
    if reason:
        raise LumaAssetUrlRefusedError(f"Refused to download {what}: {reason}")


def _remove_partial_copy(destination: ObjectStoragePath) -> None:
    try:
        destination.unlink(missing_ok=True)
    except OSError:
        log.warning("Could not remove the partial copy at %s", destination, exc_info=True)


def _content_length(headers: Any) -> int | None:
    """The announced size of the body as sent (before any content encoding is undone)."""
    value = headers.get("content-length")
    return int(value) if value and value.isdigit() else None
