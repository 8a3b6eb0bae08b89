"""
The Agents API endpoints as Starlette routes under ``/agents/v1`` (Luma's is
https://agents.lumalabs.ai/v1), on the same server and with the same API key as the Dream Machine
API:

* ``POST /generations`` (201, a ``Generation``) and ``GET /generations/{id}`` (no list, no delete);
* ``POST /files`` (201, a ``CreateFileResponse``: JSON for a presigned upload, or multipart with
  the bytes inline), ``GET /files`` (keyset pages), ``GET /files/{id}``, ``DELETE /files/{id}``
  (204, soft) and ``POST /files/{id}/complete`` (a ``File``).

Every endpoint checks ``Authorization: Bearer <key>`` first (401), then validates the request
(:mod:`.agents_validation`: 400, 413 or 422, ``{"detail": "..."}``), then acts on the
:class:`~.core.EmulatorCore`. Every answer carries ``X-Request-Id`` (the client's, echoed, or a new
UUID) and ``X-API-Version``; a generation create also ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining`` (of ``agents_requests_per_minute``), as Luma's rate-limit guide says.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_luma.testing import agents_catalog as catalog
from airflow_provider_luma.testing.agents_files import iso
from airflow_provider_luma.testing.agents_schemas import decode_json
from airflow_provider_luma.testing.agents_validation import validate_file, validate_generation
from airflow_provider_luma.testing.errors import ApiError
from airflow_provider_luma.testing.handlers import JSON, check_bearer, error_response, json_response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    from airflow_provider_luma.testing.agents_files import FileRecord
    from airflow_provider_luma.testing.core import EmulatorCore

    Endpoint = Callable[[Request], Awaitable[Response]]


def _choice(request: Request, name: str, options: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in options:
        raise ApiError(400, f"{name}: must be one of {', '.join(options)}; got {value!r}")
    return value


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return catalog.FILE_LIST_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= catalog.FILE_LIST_MAX:
        raise ApiError(400, f"limit: must be an integer from 1 to {catalog.FILE_LIST_MAX}; got {raw!r}")
    return int(raw)


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else None


class AgentsHandlers:
    """
    The Agents API endpoints of one emulator.

    :param core: the emulator's state.
    """

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Return the Agents API routes."""
        prefix, guarded = catalog.AGENTS_PREFIX, self._guarded
        return [
            Route(prefix + "/generations", guarded(self.create_generation), methods=["POST"]),
            Route(prefix + "/generations/{id}", guarded(self.get_generation), methods=["GET"]),
            Route(prefix + "/files", guarded(self.create_file), methods=["POST"]),
            Route(prefix + "/files", guarded(self.list_files), methods=["GET"]),
            Route(prefix + "/files/{id}", guarded(self.get_file), methods=["GET"]),
            Route(prefix + "/files/{id}", guarded(self.delete_file), methods=["DELETE"]),
            Route(prefix + "/files/{id}/complete", guarded(self.complete_file), methods=["POST"]),
        ]

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        api_key = self.core.api_key

        async def guarded(request: Request) -> Response:
            try:
                check_bearer(request, api_key)
                response = await endpoint(request)
            except ApiError as error:
                response = error_response(error)
            response.headers["X-Request-Id"] = request.headers.get("x-request-id") or str(uuid.uuid4())
            response.headers["X-API-Version"] = catalog.API_VERSION
            return response

        return guarded

    def _base(self, request: Request) -> str:
        return self.core.asset_base(request.headers.get("host"), request.url.scheme)

    # -- generations ----------------------------------------------------------------------------

    async def create_generation(self, request: Request) -> Response:
        """``POST /generations``: 201 with the new generation (``queued``)."""
        body = decode_json(await request.body())
        spec = await run_in_threadpool(validate_generation, body)  # inline media is decoded
        record, used = self.core.create_agents(spec)
        _, data = record.render(time.monotonic(), self._base(request))
        limit = self.core.config.agents_requests_per_minute
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used))}
        return Response(data, status_code=201, media_type=JSON, headers=headers)

    async def get_generation(self, request: Request) -> Response:
        """``GET /generations/{id}``: the generation now, or 404."""
        record = self.core.agents.get(request.path_params["id"])
        _, data = record.render(time.monotonic(), self._base(request))
        return Response(data, media_type=JSON)

    # -- files ----------------------------------------------------------------------------------

    def _file(self, record: FileRecord) -> dict[str, Any]:
        return record.to_dict(time.monotonic(), datetime.now(timezone.utc))

    def _created(self, request: Request, record: FileRecord) -> Response:
        file = self._file(record)
        upload = None
        if record.upload_token is not None and record.upload_expires is not None:
            upload = {
                "url": f"{self._base(request)}{catalog.UPLOADS_PREFIX}{record.upload_token}",
                "method": "PUT",
                "headers": {"Content-Type": record.mime_type},
                "expires_at": iso(record.upload_expires),
            }
        return json_response({"id": record.id, "file": file, "state": file["state"], "upload": upload}, 201)

    async def create_file(self, request: Request) -> Response:
        """``POST /files``: JSON asks for a presigned upload; multipart sends the bytes inline."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            return await self._create_inline(request)
        spec = validate_file(decode_json(await request.body()))
        return self._created(request, self.core.create_agents_file(spec))

    async def _create_inline(self, request: Request) -> Response:
        try:
            form = await request.form()
        except AssertionError:  # Starlette's answer when python-multipart is not installed
            raise ApiError(415, "multipart uploads need python-multipart in the emulator") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "file: Field required (a file part)")
        data = await upload.read()
        if len(data) > catalog.MAX_MULTIPART_BYTES:
            most = catalog.MAX_MULTIPART_BYTES // 2**20
            raise ApiError(413, f"file: inline uploads are limited to {most} MB; ask for a presigned upload")
        fields = {
            "mime_type": _field(form, "mime_type") or upload.content_type,
            "size_bytes": len(data),
            "purpose": _field(form, "purpose"),
            "filename": _field(form, "filename") or upload.filename,
            "expires_at": _field(form, "expires_at"),
            "user_id": _field(form, "user_id"),
        }
        spec = validate_file(fields)
        record = await run_in_threadpool(self.core.create_agents_file, spec, data)
        return self._created(request, record)

    async def list_files(self, request: Request) -> Response:
        """``GET /files?cursor=&limit=&purpose=&state=``: newest first, keyset pages."""
        records, has_more, next_cursor = self.core.agent_files.page(
            _limit(request),
            request.query_params.get("cursor") or None,
            _choice(request, "purpose", catalog.FILE_PURPOSES),
            _choice(request, "state", catalog.FILE_STATES),
        )
        page = [self._file(record) for record in records]
        return json_response({"data": page, "has_more": has_more, "next_cursor": next_cursor})

    async def get_file(self, request: Request) -> Response:
        """``GET /files/{id}``: the file (deleted ones too), or 404."""
        return json_response(self._file(self.core.agent_files.get(request.path_params["id"])))

    async def delete_file(self, request: Request) -> Response:
        """``DELETE /files/{id}``: 204 (a soft delete), or 404."""
        self.core.agent_files.delete(request.path_params["id"])
        return Response(status_code=204)

    async def complete_file(self, request: Request) -> Response:
        """``POST /files/{id}/complete``: start the ingest; the file (``pending`` or already final)."""
        record = await run_in_threadpool(self.core.agent_files.complete, request.path_params["id"])
        return json_response(self._file(record))
