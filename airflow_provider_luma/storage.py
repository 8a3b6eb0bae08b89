"""
Copying a generated asset to storage the user owns: Luma's asset URLs can expire.

The copy streams in fixed-size chunks, so memory stays flat whatever the asset's size, and checks
that every byte the CDN announced arrived. The asset URL comes from Luma's answer, so it is
untrusted: it and every redirect it leads to are checked by :mod:`airflow_provider_luma.asset_urls`
before anything is fetched from them. No credentials are ever sent: asset URLs are public CDN
links on another host, fetched with plain ``requests`` (never the hook's session).
"""

from __future__ import annotations

import http.client
import logging
import posixpath
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma import asset_urls
from airflow_provider_luma.exceptions import LumaError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

#: Read and write size. Small enough to stay in the CPU cache between the socket read and the file
#: write: a 1 GiB copy ran about twice as fast as with 1 MiB or 4 MiB chunks, on a par with curl
#: (the "asset copy" rows of ``make bench``).
CHUNK_BYTES = 256 << 10
#: (connect, read) seconds for asset downloads.
DOWNLOAD_TIMEOUT = (5.0, 60.0)
#: Redirects followed at most from an asset URL; each one is checked like the URL itself.
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class LumaAssetCopyError(LumaError):
    """The asset could not be copied whole to its destination."""


class LumaAssetUrlRefusedError(LumaAssetCopyError, AirflowFailException):
    """The asset URL, or a redirect it led to, points where assets may not come from (final)."""


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
) -> int:
    """
    Stream ``source_url`` to ``destination``; return the number of bytes written.

    Nothing is fetched from, and nothing is written for, a URL or redirect that
    :func:`airflow_provider_luma.asset_urls.refusal` refuses: that raises
    :class:`LumaAssetUrlRefusedError`.

    :param source_url: the asset's URL.
    :param destination: where to write it (parents are created).
    :param chunk_bytes: size of each chunk read and written.
    :param trusted_origin: the connection's base URL: its exact scheme, host and port may serve
        assets even over ``http`` or on a private address (the emulator, a proxy). None allows
        public ``https`` hosts only.
    """
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    # What a connection that breaks off mid-body raises, whichever layer notices; a full disk
    # (a plain OSError) is not one of them and says so itself.
    broken_download = (
        ConnectionError,
        TimeoutError,
        http.client.HTTPException,
        Urllib3Error,
        requests.RequestException,
    )
    with _open_download(source_url, trusted_origin) as response:
        if response.status_code != 200:
            raise LumaAssetCopyError(
                f"Downloading {source_url} answered HTTP {response.status_code}; asset URLs expire, so copy "
                "assets soon after they are generated"
            )
        announced = _content_length(response.headers)
        if destination.protocol in ("", "file", "local"):
            destination.parent.mkdir(parents=True, exist_ok=True)  # object stores have no folders
        written = 0
        try:
            with destination.open("wb") as out:
                # requests undoes gzip and the like; memory stays at one chunk whatever the size.
                for chunk in response.iter_content(chunk_size=chunk_bytes):
                    out.write(chunk)
                    written += len(chunk)
            if announced is not None and written != announced:
                raise LumaAssetCopyError(
                    f"Copied {written:,} bytes of {source_url} to {destination}, but Luma announced "
                    f"{announced:,}"
                )
        except (LumaAssetCopyError, *broken_download) as exc:
            _remove_partial_copy(destination)  # a partial file must not pass for the asset
            if isinstance(exc, LumaAssetCopyError):
                raise
            of_announced = f" of the {announced:,} announced" if announced is not None else ""
            raise LumaAssetCopyError(
                f"Downloading {source_url} to {destination} broke off after {written:,} bytes{of_announced}: "
                f"{exc}"
            ) from exc
    return written


def _open_download(source_url: str, trusted_origin: str | None) -> Any:
    """
    GET ``source_url`` as a stream, following redirects one at a time so that each is checked.

    Residual gap, left on purpose: the host's addresses are checked, then requests looks the name
    up again to connect. A DNS server that answers a public address to the check and a private one
    a moment later (DNS rebinding) could still steer the connection. Pinning the connection to the
    checked address would mean replacing requests' connection handling (Host header, TLS name,
    proxies from the environment); the URLs Luma hands out are on its own CDN.
    """
    import requests

    url, came_from = source_url, None
    for _ in range(MAX_REDIRECTS + 1):
        _check_asset_url(url, trusted_origin, came_from)
        # Plain requests.get, so no header of the hook's session can reach the asset host; the
        # no-op auth keeps requests from adding credentials of a ~/.netrc entry for that host.
        response = requests.get(
            url, stream=True, timeout=DOWNLOAD_TIMEOUT, allow_redirects=False, auth=_no_credentials
        )
        location = response.headers.get("location")
        if response.status_code not in _REDIRECT_STATUSES or not location:
            return response
        response.close()
        came_from, url = url, urljoin(url, location)
    raise LumaAssetCopyError(
        f"Downloading {asset_urls.redacted(source_url)} was redirected more than {MAX_REDIRECTS} times"
    )


def _no_credentials(request: Any) -> Any:
    return request


def _check_asset_url(url: str, trusted_origin: str | None, came_from: str | None) -> None:
    what = (
        f"the redirect from {asset_urls.redacted(came_from)} to {asset_urls.redacted(url)}"
        if came_from
        else f"the asset URL {asset_urls.redacted(url)}"
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
    value = headers.get("content-length")
    return int(value) if value and value.isdigit() and "content-encoding" not in headers else None
