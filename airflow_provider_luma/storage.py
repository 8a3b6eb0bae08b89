"""
Copying a generated asset to storage the user owns: Luma's asset URLs can expire.

The copy streams in fixed-size chunks, so memory stays flat whatever the asset's size, and checks
that every byte the CDN announced arrived. The API key is never sent: asset URLs are public CDN
links on another host.
"""

from __future__ import annotations

import http.client
import logging
import posixpath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_luma.exceptions import LumaError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

#: Read and write size. Small enough to stay in the CPU cache between the socket read and the file
#: write: 256 KiB copied 1 GiB at ~1.9 GB/s here, 1 MiB at ~0.9 and 4 MiB at ~0.85 (curl: ~1.7).
CHUNK_BYTES = 256 << 10
#: (connect, read) seconds for asset downloads.
DOWNLOAD_TIMEOUT = (5.0, 60.0)


class LumaAssetCopyError(LumaError):
    """The asset could not be copied whole to its destination."""


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


def copy_asset(source_url: str, destination: ObjectStoragePath, chunk_bytes: int = CHUNK_BYTES) -> int:
    """
    Stream ``source_url`` to ``destination``; return the number of bytes written.

    :param source_url: the asset's URL.
    :param destination: where to write it (parents are created).
    :param chunk_bytes: size of each chunk read and written.
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
    with requests.get(source_url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
        if response.status_code != 200:
            raise LumaAssetCopyError(
                f"Downloading {source_url} answered HTTP {response.status_code}; asset URLs expire, so copy "
                "assets soon after they are generated"
            )
        announced = _content_length(response.headers)
        if destination.protocol in ("", "file", "local"):
            destination.parent.mkdir(parents=True, exist_ok=True)  # object stores have no folders
        try:
            with destination.open("wb") as out:
                written = _stream(response, out, chunk_bytes)
            if announced is not None and written != announced:
                raise LumaAssetCopyError(
                    f"Copied {written:,} bytes of {source_url} to {destination}, but Luma announced "
                    f"{announced:,}"
                )
        except (LumaAssetCopyError, *broken_download) as exc:
            _remove_partial_copy(destination)  # a partial file must not pass for the asset
            if isinstance(exc, LumaAssetCopyError):
                raise
            raise LumaAssetCopyError(f"Downloading {source_url} to {destination} broke off: {exc}") from exc
    return written


def _remove_partial_copy(destination: ObjectStoragePath) -> None:
    try:
        destination.unlink(missing_ok=True)
    except OSError:
        log.warning("Could not remove the partial copy at %s", destination, exc_info=True)


def _stream(response: Any, out: Any, chunk_bytes: int) -> int:
    """Write the body to ``out``; return its size. One reused buffer: memory stays flat."""
    written = 0
    if "content-encoding" in response.headers:  # let requests undo gzip and the like
        for chunk in response.iter_content(chunk_size=chunk_bytes):
            out.write(chunk)
            written += len(chunk)
        return written
    # urllib3's readinto reads each chunk into a new bytes object and copies it; http.client's
    # fills our buffer straight from the socket. The attribute is urllib3's, hence the fallback.
    raw_body = getattr(response.raw, "_fp", None)
    readinto = raw_body.readinto if isinstance(raw_body, http.client.HTTPResponse) else response.raw.readinto
    buffer = memoryview(bytearray(chunk_bytes))
    while size := readinto(buffer):
        out.write(buffer[:size])
        written += size
    return written


def _content_length(headers: Any) -> int | None:
    value = headers.get("content-length")
    return int(value) if value and value.isdigit() and "content-encoding" not in headers else None
