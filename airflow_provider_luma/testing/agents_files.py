"""
The Agents API's files: metadata, presigned uploads and their bytes, safe to use from any thread.

A file is created ``pending`` with a presigned upload (``PUT /uploads/{token}`` on the emulator, an
unguessable token, valid an hour, no Bearer auth: like an S3 URL), or inline (multipart), bytes
and all. ``POST /files/{id}/complete`` starts the ingest: after ``agents_file_ingest_seconds`` the
file is ``ready``, or ``failed`` with a ``failure_reason`` when no bytes came or they are not the
image or video its ``mime_type`` says (:mod:`.agents_media`). ``DELETE`` soft-deletes it (state
``deleted``, ``deleted_at``); so does its ``expires_at`` passing. Every file has an owner: the API
key's (:data:`OWN`), or another client's (files a test plants, which the API never shows).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.testing import agents_catalog as catalog
from airflow_provider_luma.testing.agents_media import media_problem
from airflow_provider_luma.testing.errors import ApiError

if TYPE_CHECKING:
    from airflow_provider_luma.testing.agents_validation import FileSpec
    from airflow_provider_luma.testing.config import EmulatorConfig

#: The owner of the files made through the API with the emulator's key.
OWN = "own"
NO_BYTES = "No bytes were uploaded to the upload URL before completion"


def iso(moment: datetime) -> str:
    """
    Return an aware datetime as ISO 8601 in UTC with a ``Z``.

    :param moment: the datetime.
    """
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class UploadRefused(Exception):
    """
    How the storage answers a presigned PUT it refuses: an S3-style error.

    :param status: the HTTP status.
    :param code: the S3 error code, e.g. ``AccessDenied``.
    :param message: what is wrong.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message


@dataclass(eq=False)
class FileRecord:
    """
    A file as the emulator keeps it.

    :param id: the file id (UUID v4).
    :param seq: its creation number (orders listings, newest first).
    :param owner: :data:`OWN` or another client's name.
    :param mime_type: the MIME type of its bytes.
    :param size_bytes: their size.
    :param purpose: ``input`` or ``reference``.
    :param created_at: when it was created (UTC).
    :param expires_at: when it deletes itself, if ever.
    :param filename: its original name, if given.
    :param user_id: the end-user tag, if given.
    :param upload_token: the token of its presigned upload URL (None: uploaded inline).
    :param upload_expires: when that URL stops working.
    :param data: the bytes received, if any.
    :param completed_at: ``time.monotonic()`` of its completion, once completed.
    :param ingest_s: seconds its ingest takes after completion.
    :param problem: why its ingest fails, if it does.
    :param deleted_at: when it was deleted.
    """

    id: str
    seq: int
    owner: str
    mime_type: str
    size_bytes: int
    purpose: str
    created_at: datetime
    expires_at: datetime | None = None
    filename: str | None = None
    user_id: str | None = None
    upload_token: str | None = None
    upload_expires: datetime | None = None
    data: bytes | None = None
    completed_at: float | None = None
    ingest_s: float = 0.0
    problem: str | None = None
    deleted_at: datetime | None = None

    @property
    def media(self) -> str:
        """``"image"`` or ``"video"``."""
        return "video" if self.mime_type.startswith("video/") else "image"

    def state(self, now: float, wall: datetime) -> str:
        """
        Return its state.

        :param now: a ``time.monotonic()`` value.
        :param wall: the current UTC time.
        """
        if self.deleted_at is not None or (self.expires_at is not None and wall >= self.expires_at):
            return "deleted"
        if self.completed_at is None or now < self.completed_at + self.ingest_s:
            return "pending"
        return "failed" if self.problem else "ready"

    def to_dict(self, now: float, wall: datetime) -> dict[str, Any]:
        """
        Return the file object (the SDK's ``File``).

        :param now: a ``time.monotonic()`` value.
        :param wall: the current UTC time.
        """
        state = self.state(now, wall)
        deleted_at = self.deleted_at
        if deleted_at is None and state == "deleted":
            deleted_at = self.expires_at
        return {
            "id": self.id,
            "created_at": iso(self.created_at),
            "mime_type": self.mime_type,
            "purpose": self.purpose,
            "size_bytes": self.size_bytes,
            "state": state,
            "deleted_at": iso(deleted_at) if deleted_at else None,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "failure_reason": self.problem if state == "failed" else None,
            "filename": self.filename,
            "user_id": self.user_id,
        }


def _not_found() -> ApiError:
    return ApiError(404, "File not found")


def _cursor(record: FileRecord) -> str:
    return base64.urlsafe_b64encode(f"f{record.seq}".encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    """The creation number a cursor points below, or a 400."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("f") and text[1:].isdigit():
            return int(text[1:])
    except ValueError:
        pass
    raise ApiError(400, "cursor: not a cursor this API gave")


class AgentFileStore:
    """
    All Agents API files, behind one lock.

    :param config: the settings (the ingest time).
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.Lock()
        self.reset(config)

    def reset(self, config: EmulatorConfig) -> None:
        """
        Forget every file.

        :param config: the settings to start again with.
        """
        with self._lock:
            self.config = config
            self._by_id: dict[str, FileRecord] = {}
            self._by_token: dict[str, FileRecord] = {}
            self._seq = 0

    def set_config(self, config: EmulatorConfig) -> None:
        """
        Use new settings for files completed from now on.

        :param config: the new settings.
        """
        self.config = config

    def _new(self, spec: FileSpec, owner: str, presigned: bool) -> FileRecord:
        self._seq += 1
        now = datetime.now(timezone.utc)
        record = FileRecord(
            id=str(uuid.uuid4()),
            seq=self._seq,
            owner=owner,
            mime_type=spec.mime_type,
            size_bytes=spec.size_bytes,
            purpose=spec.purpose,
            created_at=now,
            expires_at=spec.expires_at,
            filename=spec.filename,
            user_id=spec.user_id,
        )
        if presigned:
            record.upload_token = secrets.token_urlsafe(32)
            record.upload_expires = now + timedelta(seconds=catalog.UPLOAD_URL_SECONDS)
            self._by_token[record.upload_token] = record
        self._by_id[record.id] = record
        return record

    def create(self, spec: FileSpec, owner: str = OWN) -> FileRecord:
        """
        Create a ``pending`` file with a presigned upload.

        :param spec: the validated request.
        :param owner: whose it is.
        """
        with self._lock:
            return self._new(spec, owner, presigned=True)

    def create_inline(self, spec: FileSpec, data: bytes, owner: str = OWN) -> FileRecord:
        """
        Create a file with its bytes, completed at once (its ingest starts now).

        It probes the bytes: call it from a worker thread for big ones.

        :param spec: the validated request (``size_bytes`` is the bytes' size).
        :param data: the bytes.
        :param owner: whose it is.
        """
        problem = media_problem(data, spec.mime_type) if data else NO_BYTES
        with self._lock:
            record = self._new(spec, owner, presigned=False)
            record.data = data
            record.problem = problem
            record.ingest_s = self.config.agents_file_ingest_seconds
            record.completed_at = time.monotonic()
            return record

    def upload(self, token: str, data: bytes, content_type: str | None) -> str:
        """
        Take the bytes of a presigned PUT; return their ETag, or raise :class:`UploadRefused`.

        :param token: the token of the URL.
        :param data: the request body.
        :param content_type: the request's ``Content-Type``.
        """
        with self._lock:
            record = self._by_token.get(token)
            wall = datetime.now(timezone.utc)
            if record is None or record.upload_expires is None:
                raise UploadRefused(403, "AccessDenied", "Access Denied")
            if wall >= record.upload_expires:
                raise UploadRefused(403, "AccessDenied", "Request has expired")
            if record.completed_at is not None or record.state(time.monotonic(), wall) != "pending":
                raise UploadRefused(403, "AccessDenied", "The upload of this file is closed")
            if (content_type or "").split(";")[0].strip().lower() != record.mime_type:
                raise UploadRefused(
                    403,
                    "SignatureDoesNotMatch",
                    f"The request signature we calculated does not match: Content-Type must be "
                    f"{record.mime_type}",
                )
            if len(data) != record.size_bytes:
                code = "EntityTooLarge" if len(data) > record.size_bytes else "IncompleteBody"
                raise UploadRefused(
                    400, code, f"The body is {len(data)} bytes; the upload was signed for {record.size_bytes}"
                )
            record.data = data
        return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'

    def complete(self, file_id: str, owner: str = OWN) -> FileRecord:
        """
        Start the ingest of an uploaded file (again: no change), or raise 404/409.

        It probes the bytes: call it from a worker thread for big ones.

        :param file_id: the file id.
        :param owner: who asks.
        """
        record = self.get(file_id, owner)
        with self._lock:
            if record.state(time.monotonic(), datetime.now(timezone.utc)) == "deleted":
                raise ApiError(409, f"File {file_id} is deleted")
            if record.completed_at is not None:
                return record
            data = record.data
        problem = media_problem(data, record.mime_type) if data else NO_BYTES
        with self._lock:
            if record.completed_at is None:
                record.problem = problem
                record.ingest_s = self.config.agents_file_ingest_seconds
                record.completed_at = time.monotonic()
            return record

    def get(self, file_id: str, owner: str = OWN) -> FileRecord:
        """
        Return a file of ``owner`` (deleted ones too), or raise 404.

        :param file_id: the file id.
        :param owner: who asks.
        """
        record = self._by_id.get(file_id)
        if record is None or record.owner != owner:
            raise _not_found()
        return record

    def delete(self, file_id: str, owner: str = OWN) -> None:
        """
        Soft-delete a file (again: no change), or raise 404.

        :param file_id: the file id.
        :param owner: who asks.
        """
        record = self.get(file_id, owner)
        with self._lock:
            if record.deleted_at is None:
                record.deleted_at = datetime.now(timezone.utc)

    def page(
        self,
        limit: int,
        cursor: str | None = None,
        purpose: str | None = None,
        state: str | None = None,
        owner: str = OWN,
    ) -> tuple[list[FileRecord], bool, str | None]:
        """
        Return a page of ``owner``'s files, newest first, whether more follow, and the next cursor.

        :param limit: the most to return.
        :param cursor: a ``next_cursor`` answered before: the page after it.
        :param purpose: only files with this purpose.
        :param state: only files in this state.
        :param owner: whose files.
        """
        below = _after(cursor) if cursor else None
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        with self._lock:
            records = sorted(self._by_id.values(), key=lambda r: r.seq, reverse=True)
        chosen = []
        for record in records:
            if record.owner != owner or (below is not None and record.seq >= below):
                continue
            if (purpose and record.purpose != purpose) or (state and record.state(now, wall) != state):
                continue
            chosen.append(record)
            if len(chosen) > limit:
                break
        has_more = len(chosen) > limit
        page = chosen[:limit]
        return page, has_more, (_cursor(page[-1]) if has_more and page else None)

    def records(self) -> list[FileRecord]:
        """Return every file (every owner's), oldest first."""
        with self._lock:
            return sorted(self._by_id.values(), key=lambda r: r.seq)

    def usable(self, where: str, file_id: str, media: str, owner: str = OWN) -> FileRecord:
        """
        Return a file a generation may use at ``where``, or raise the 422 the API would.

        :param where: the request field, e.g. ``source.file_id``.
        :param file_id: the file id.
        :param media: ``"image"`` or ``"video"``: what the field takes.
        :param owner: who asks.
        """
        record = self._by_id.get(file_id)
        if record is None or record.owner != owner:
            raise ApiError(422, f"{where}: file {file_id} not found")
        state = record.state(time.monotonic(), datetime.now(timezone.utc))
        if state != "ready":
            raise ApiError(422, f"{where}: file {file_id} is {state}, not ready")
        if record.media != media:
            raise ApiError(
                422, f"{where}: file {file_id} is {record.mime_type}; {media} media is needed here"
            )
        return record
