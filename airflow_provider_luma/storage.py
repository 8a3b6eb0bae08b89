"""
Copying a generated asset to storage the user owns: Luma's asset URLs can expire.

The copy streams, so memory stays flat whatever the asset's size, and it is bounded: at most
``max_bytes`` (a larger announced size is refused before anything is written), within one deadline
from the first connection to the last byte, and every byte the CDN announced must arrive. A copy
that fails for any reason leaves no file behind. The asset URL is untrusted, and is fetched as
:mod:`airflow_provider_luma.downloads` says (every URL, redirect and address reached checked).

``requests``, as the hook's worker calls: a 1 GiB copy through httpx ran at about half the speed
(``python -m benchmarks.bench_http_clients``), its reads being 64 KiB pieces copied three times on
their way out of h11.
"""

from __future__ import annotations

import logging
import posixpath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_luma.downloads import CopyDeadline, download
from airflow_provider_luma.exceptions import (
    LumaAssetAnswerError,
    LumaAssetCopyError,
    LumaAssetTooLargeError,
)
from airflow_provider_luma.redaction import redacted, redacted_text

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath


log = logging.getLogger(__name__)

#: Write size. Small enough to stay in the CPU cache between the socket read and the file write:
#: a 1 GiB copy ran about twice as fast as with 1 MiB or 4 MiB chunks, on a par with curl
#: (the "asset copy" rows of ``make bench``).
CHUNK_BYTES = 256 << 10
#: The default ``max_bytes``: far above any image or video Luma makes today.
DEFAULT_MAX_BYTES = 2 << 30
#: The default ``deadline_seconds`` of a whole copy (2 GiB at 1.2 MB/s).
DEFAULT_DEADLINE_SECONDS = 30 * 60.0


def store_asset(
    generation: dict[str, Any],
    output_path: str | ObjectStoragePath,
    trusted_origin: str | None,
    *,
    max_bytes: int | None = None,
    deadline_seconds: float | None = None,
) -> str | list[str]:
    """
    Copy a completed generation's asset (its image, else its video; every output of an Agents API
    generation) to ``output_path``; return the path (a list, for several outputs).

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
    from airflow_provider_luma.generations import returned_urls

    urls = returned_urls(generation, trusted_origin)
    name = str(generation.get("id"))
    stored = []
    # Several outputs (an Agents API ``layering``): one file each, numbered from 1 in their order.
    for number, url in enumerate([urls] if isinstance(urls, str) else urls, start=1):
        destination = destination_for(output_path, url, name, None if isinstance(urls, str) else number)
        copy_asset(
            url,
            destination,
            trusted_origin=trusted_origin,
            max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
            deadline_seconds=DEFAULT_DEADLINE_SECONDS if deadline_seconds is None else deadline_seconds,
        )
        stored.append(str(destination))
    return stored[0] if isinstance(urls, str) else stored


def destination_for(
    output_path: str | ObjectStoragePath, source_url: str, name: str, number: int | None = None
) -> ObjectStoragePath:
    """
    Where to store an asset: ``output_path`` itself, or ``output_path/<name><ext>`` when it ends with "/".

    :param output_path: a file or folder URL (``file://``, ``s3://``, ``gs://``...) or local path.
    :param source_url: the asset URL; its extension is kept when a folder is given.
    :param name: the file name (without extension) to use in a folder, e.g. the generation id.
    :param number: the output's number, for one of several: ``<name>-<number><ext>`` in a folder,
        ``<stem>-<number><suffix>`` beside a file.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    text = str(output_path)
    suffix = "" if number is None else f"-{number}"
    if text.endswith("/"):
        extension = posixpath.splitext(urlsplit(source_url).path)[1]
        return ObjectStoragePath(text) / f"{name}{suffix}{extension}"
    path = ObjectStoragePath(text)
    return path if number is None else path.with_name(f"{path.stem}{suffix}{path.suffix}")


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
    non-public address: that raises :class:`~airflow_provider_luma.exceptions.LumaAssetUrlRefusedError`.

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
    deadline = CopyDeadline(deadline_seconds)
    with deadline, download(source_url, trusted_origin, deadline) as response:
        if response.status_code != 200:
            raise LumaAssetCopyError(
                f"Downloading {redacted(source_url)} answered HTTP {response.status_code}; asset URLs "
                "expire, so copy assets soon after they are generated"
            )
        announced = _content_length(response.headers, source_url)
        if announced is not None and announced > max_bytes:
            raise LumaAssetTooLargeError(_too_large(source_url, f"announces {announced:,} bytes", max_bytes))
        if destination.protocol in ("", "file", "local"):
            destination.parent.mkdir(parents=True, exist_ok=True)  # object stores have no folders
        written = 0
        try:
            with destination.open("wb") as out:
                # requests undoes gzip and the like; memory stays at one chunk whatever the size.
                for chunk in response.iter_content(chunk_size=chunk_bytes):
                    written += len(chunk)
                    if written > max_bytes:
                        raise LumaAssetTooLargeError(_too_large(source_url, "sends more bytes", max_bytes))
                    out.write(chunk)
            if deadline.passed():  # a body without a length ends quietly when cut: it is not whole
                raise deadline.error(source_url, f"{written:,} bytes by then")
            if announced is not None and response.raw.tell() != announced:
                raise LumaAssetCopyError(
                    f"Copied {response.raw.tell():,} bytes of {redacted(source_url)} to {destination}, "
                    f"but Luma announced {announced:,}"
                )
        except BaseException as exc:  # a kill of the task too: a partial file must not pass for the asset
            _remove_partial_copy(destination)
            if not isinstance(exc, Exception) or isinstance(exc, LumaAssetCopyError):
                raise  # a kill, or our own verdict
            if deadline.passed():  # the connection was shut down at the deadline
                raise deadline.error(source_url, f"{written:,} bytes by then") from exc
            if not _broke_off(exc):
                raise  # a full disk, say: its own message says it
            of_announced = f" of the {announced:,} announced" if announced is not None else ""
            raise LumaAssetCopyError(
                f"Downloading {redacted(source_url)} to {destination} broke off after {written:,} bytes"
                f"{of_announced}: {redacted_text(str(exc))}"
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


def _too_large(source_url: str, what: str, max_bytes: int) -> str:
    return (
        f"Refused to copy {redacted(source_url)}: it {what}, more than max_asset_bytes={max_bytes:,}; raise "
        "max_asset_bytes if an asset this large is expected"
    )


def _remove_partial_copy(destination: ObjectStoragePath) -> None:
    try:
        destination.unlink(missing_ok=True)
    except OSError:
        log.warning("Could not remove the partial copy at %s", destination, exc_info=True)


def _content_length(headers: Any, source_url: str) -> int | None:
    """
    The announced size of the body as sent (before any content encoding is undone), or None.

    Parsed strictly: ASCII digits only (``int()`` would take ``"²"`` and other Unicode digits, or
    raise on them), or a list of equal ones (a header sent twice).
    """
    value = headers.get("content-length")
    if value is None:
        return None
    sizes = {size.strip() for size in value.split(",")}
    if len(sizes) != 1 or not all(size.isascii() and size.isdigit() for size in sizes):
        raise LumaAssetAnswerError(
            f"Downloading {redacted(source_url)} announced an invalid Content-Length {value[:40]!r}: "
            "not a number of bytes"
        )
    return int(sizes.pop())
