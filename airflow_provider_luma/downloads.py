"""
Fetching an asset URL, which comes from Luma's answer and so is untrusted, within one deadline.

The URL and every redirect it leads to are checked by :mod:`airflow_provider_luma.asset_urls`
before anything is fetched from them, and the address a connection actually reached is checked
again as soon as it is open, before a byte is sent (:func:`_peer_checking_session`), so a DNS
answer that changes between the check and the connection (DNS rebinding) reaches nothing. No
credentials are ever sent: asset URLs are public CDN links on another host, fetched with a
``requests`` session of their own (never the hook's client, which carries the API key).

One :class:`CopyDeadline` bounds it all, from connecting to the last byte: written here because
neither requests nor urllib3 bounds a whole response (their timeouts bound each connect and each
read), and a host that trickles its headers or body defeats any per-read timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from airflow_provider_luma import asset_urls
from airflow_provider_luma.exceptions import (
    LumaAssetAnswerError,
    LumaAssetCopyError,
    LumaAssetUrlRefusedError,
)
from airflow_provider_luma.redaction import redacted, redacted_text

if TYPE_CHECKING:
    from collections.abc import Iterator

#: (connect, read) seconds for asset downloads: how long to wait for a connection, and for the next
#: bytes once it is open (the whole copy is bounded by its deadline).
DOWNLOAD_TIMEOUT = (5.0, 60.0)
#: Redirects followed at most from an asset URL; each one is checked like the URL itself.
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class CopyDeadline:
    """
    The deadline of a whole copy, from the first connection to the last byte, redirects included.

    Every connection the copy opens is watched, and shut down when the deadline passes, so that a
    blocked connect, TLS handshake, header or body read ends there: the read timeout bounds each
    read, not their sum, and a host sending a byte every half second would never trip it. A watched
    connection is a duplicate of the socket's descriptor: shutting it down ends the connection
    whatever wraps the socket by then (TLS, a proxy's tunnel).

    :param seconds: the most the copy may take.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._cut = False
        self._timer = threading.Timer(max(0.0, seconds), self._cut_all)
        self._timer.daemon = True

    def __enter__(self) -> CopyDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            watched, self._watched = self._watched, []
        for sock in watched:
            sock.close()

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self._at - time.monotonic())

    def passed(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() >= self._at

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock``'s connection down at the deadline (at once if it has passed)."""
        watched = sock.dup()
        with self._lock:
            if not self._cut:
                self._watched.append(watched)
                return
        _shut_down(watched)
        watched.close()

    def error(self, source_url: str, progress: str) -> LumaAssetCopyError:
        """
        The copy's error when its deadline passed.

        :param source_url: the asset URL.
        :param progress: what was done by then, e.g. ``"1,024 bytes by then"``.
        """
        return LumaAssetCopyError(
            f"Downloading {redacted(source_url)} took longer than its deadline of {self.seconds:g} s "
            f"({progress})"
        )

    def _cut_all(self) -> None:
        with self._lock:
            self._cut = True
            watched = list(self._watched)
        for sock in watched:
            _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def download(source_url: str, trusted_origin: str | None, deadline: CopyDeadline) -> Iterator[Any]:
    """
    GET ``source_url`` as a stream, following redirects one at a time so that each is checked.

    :param source_url: the asset URL.
    :param trusted_origin: the connection's base URL: its exact scheme, host and port may serve
        assets even over ``http`` or on a private address. None allows public ``https`` hosts only.
    :param deadline: the copy's deadline, which every connection opened here is held to.
    :raises LumaAssetUrlRefusedError: the URL, a redirect or the address reached was refused.
    :raises LumaAssetCopyError: the download failed, was redirected too often or ran out of time.
    """
    import requests

    with _peer_checking_session(trusted_origin, deadline) as session:
        url, came_from = source_url, None
        for _ in range(MAX_REDIRECTS + 1):
            _check_asset_url(url, trusted_origin, came_from, deadline)
            # A session of its own, so no header of the hook's client can reach the asset host; the
            # no-op auth keeps requests from adding credentials of a ~/.netrc entry for that host.
            try:
                response = session.get(
                    url, stream=True, timeout=_timeouts(deadline), allow_redirects=False, auth=_no_credentials
                )
            except requests.RequestException as exc:
                if deadline.passed():
                    raise deadline.error(source_url, f"no answer from {redacted(url)} by then") from exc
                raise LumaAssetCopyError(
                    f"Downloading {redacted(url)} failed: {redacted_text(str(exc))}"
                ) from exc
            except ValueError:  # requests parses a redirect's Location even when not following it
                raise LumaAssetAnswerError(
                    f"Downloading {redacted(url)} failed: its answer does not parse (a redirect to a "
                    "malformed URL, say)"
                ) from None
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or not location:
                with response:
                    yield response
                return
            response.close()
            came_from, url = url, urljoin(url, location)
    raise LumaAssetCopyError(
        f"Downloading {redacted(source_url)} was redirected more than {MAX_REDIRECTS} times"
    )


def _timeouts(deadline: CopyDeadline) -> tuple[float, float]:
    """(connect, read) timeouts of the next request: :data:`DOWNLOAD_TIMEOUT`, within the deadline."""
    left = max(deadline.remaining(), 0.001)
    return min(DOWNLOAD_TIMEOUT[0], left), min(DOWNLOAD_TIMEOUT[1], left)


def _peer_checking_session(trusted_origin: str | None, deadline: CopyDeadline) -> Any:
    """
    A ``requests`` session whose direct connections check the address they reached, before TLS,
    and whose every connection (to the asset host or to a proxy) ``deadline`` watches.

    Proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) and ``REQUESTS_CA_BUNDLE``
    are read from the environment. Behind a proxy, the proxy connects to the asset host: the host's
    addresses are then checked only before the request (the proxy's own rules apply to what it
    reaches).
    """
    import requests
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    trusted = asset_urls.Origin.of(trusted_origin) if trusted_origin else None

    def pools(check_peer: bool) -> dict[str, type]:
        def connections(connection_class: type) -> type:
            class AssetConnection(connection_class):
                def _new_conn(self) -> socket.socket:
                    sock = super()._new_conn()
                    try:
                        deadline.watch(sock)
                        if check_peer:
                            _check_peer(str(self.host), int(self.port), sock.getpeername(), trusted)
                    except BaseException:
                        sock.close()
                        raise
                    return sock

            return AssetConnection

        class AssetHTTPConnectionPool(HTTPConnectionPool):
            ConnectionCls = connections(HTTPConnection)

        class AssetHTTPSConnectionPool(HTTPSConnectionPool):
            ConnectionCls = connections(HTTPSConnection)

        return {"http": AssetHTTPConnectionPool, "https": AssetHTTPSConnectionPool}

    class PeerCheckingAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools(check_peer=True)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS proxies have pools of their own
                manager.pool_classes_by_scheme = pools(check_peer=False)
            return manager

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


def _check_asset_url(
    url: str, trusted_origin: str | None, came_from: str | None, deadline: CopyDeadline
) -> None:
    what = (
        f"the redirect from {redacted(came_from)} to {redacted(url)}"
        if came_from
        else f"the asset URL {redacted(url)}"
    )
    if deadline.passed():
        raise deadline.error(url, f"before {what} was fetched")
    try:
        reason = asset_urls.refusal(url, trusted_origin)
    except OSError as exc:  # the name did not resolve: a network problem, worth a retry
        raise LumaAssetCopyError(f"Could not look up the host of {what}: {exc}") from exc
    if reason:
        raise LumaAssetUrlRefusedError(f"Refused to download {what}: {reason}")
