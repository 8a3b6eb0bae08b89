"""
Uploading a file from object storage to Luma's Agents API, for a reference, source or keyframe given
as an ``ObjectStoragePath``: ``POST /files`` for a presigned upload, a ``PUT`` of the bytes, ``POST
/files/{id}/complete``, then a wait until Luma says the file is ``ready``.

The file is given an expiry (Luma deletes it after that), so nothing is left behind when a task
dies before it could delete it. The presigned URL comes from Luma's answer and is untrusted: it
must be ``https`` on a public host (or the connection's own origin, for an emulator or a proxy),
and never gets the API key; the bytes stream from storage, so memory stays flat.
"""

from __future__ import annotations

import posixpath
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import LumaError
from airflow_provider_luma.redaction import redacted

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_luma.hooks._transport import SyncTransport

#: Seconds between two reads of a file's state while Luma ingests it.
READY_POLL_SECONDS = 1.0
#: Seconds the ``PUT`` of the bytes may wait for a connection and then for each read.
PUT_TIMEOUTS = (10.0, 120.0)


def upload(
    transport: SyncTransport,
    trusted_origin: str,
    path: str | ObjectStoragePath,
    media_type: str,
    expires_at: float,
    purpose: str,
    deadline: float,
) -> str:
    """
    Upload ``path``; return Luma's file id once the file is ``ready``.

    :param transport: the Agents API connection's transport.
    :param trusted_origin: the connection's base URL, whose origin may take the bytes over ``http``.
    :param path: the file in object storage.
    :param media_type: its MIME type.
    :param expires_at: epoch seconds after which Luma may delete it.
    :param purpose: ``input`` or ``reference``.
    :param deadline: epoch seconds it must be ready by.
    :raises LumaError: the file cannot be read, the presigned URL is refused, or Luma failed the file.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    source = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(str(path))
    shown = redacted(str(path))
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise LumaError(f"Cannot read {shown} to upload it to Luma: {exc}") from exc
    created = transport.call(
        "POST",
        "/files",
        json={
            "mime_type": media_type,
            "size_bytes": size,
            "filename": posixpath.basename(str(path)) or "upload",
            "purpose": purpose,
            "expires_at": datetime.fromtimestamp(expires_at, timezone.utc).isoformat(timespec="seconds"),
        },
        deadline=deadline,
    )
    file_id, envelope = _created(created)
    _put(envelope, source, size, shown, trusted_origin, deadline)
    state = transport.call("POST", f"/files/{file_id}/complete", deadline=deadline)
    while True:
        if not isinstance(state, dict):
            raise LumaError(f"Luma answered with {type(state).__name__} for file {file_id}")
        if state.get("state") == "ready":
            return file_id
        if state.get("state") in ("failed", "deleted"):
            reason = state.get("failure_reason") or "no reason given"
            raise LumaError(f"Luma refused the upload of {shown} (file {file_id}): {reason}")
        if time.time() + READY_POLL_SECONDS > deadline:
            raise LumaError(f"Luma's file {file_id} ({shown}) was not ready before the task's deadline")
        time.sleep(READY_POLL_SECONDS)
        state = transport.call("GET", f"/files/{file_id}", deadline=deadline)


def _created(answer: Any) -> tuple[str, dict[str, Any]]:
    """The file id and the presigned upload of Luma's answer to ``POST /files``."""
    file_id = answer.get("id") if isinstance(answer, dict) else None
    envelope = answer.get("upload") if isinstance(answer, dict) else None
    if not isinstance(file_id, str) or not file_id or "/" in file_id or not isinstance(envelope, dict):
        raise LumaError("Luma's answer to POST /files has no file id or presigned upload")
    return file_id, envelope


def _put(
    envelope: dict[str, Any],
    source: ObjectStoragePath,
    size: int,
    shown: str,
    trusted_origin: str,
    deadline: float,
) -> None:
    """Stream the file to the presigned URL, without the API key."""
    import requests

    from airflow_provider_luma.asset_urls import refusal

    url = envelope.get("url")
    if not isinstance(url, str):
        raise LumaError("Luma's presigned upload has no URL")
    reason = refusal(url, trusted_origin)
    if reason:
        raise LumaError(f"Luma's presigned upload URL {redacted(url)!r} is refused: {reason}")
    headers = envelope.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise LumaError("Luma's presigned upload has headers that are not strings")
    # A presigned PUT takes a known length, not a chunked body.
    headers = {**headers, "Content-Length": str(size)}
    timeout = (PUT_TIMEOUTS[0], min(PUT_TIMEOUTS[1], max(1.0, deadline - time.time())))
    try:
        with source.open("rb") as stream:
            response = requests.put(url, data=stream, headers=headers, timeout=timeout, allow_redirects=False)
    except (OSError, requests.RequestException) as exc:
        raise LumaError(f"Uploading {shown} to Luma failed: {redacted(str(exc))}") from exc
    if response.status_code >= 300:
        raise LumaError(f"Uploading {shown} to Luma answered HTTP {response.status_code}")
