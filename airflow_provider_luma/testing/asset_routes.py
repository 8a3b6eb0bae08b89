"""
The CDN side: ``GET /assets/{id}.{png|jpg|mp4}`` and ``GET /assets/blob/{size}``, without auth.

An asset exists once its generation is completed (404 before, and after a delete). Pictures are
rendered on first request in a worker thread and cached.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from airflow_provider_luma.testing.assets import BLOB_MAX, CONTENT_TYPES, blob_chunks, placeholder_video
from airflow_provider_luma.testing.errors import ApiError
from airflow_provider_luma.testing.generations import COMPLETED
from airflow_provider_luma.testing.handlers import error_response

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request

    from airflow_provider_luma.testing.core import EmulatorCore

_NOT_FOUND = ApiError(404, "Not Found")


class AssetHandlers:
    """
    Serves generation assets and blobs.

    :param core: the emulator's state.
    """

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Return the asset routes."""
        return [
            Route("/assets/blob/{size}", self.blob, methods=["GET"]),
            Route("/assets/{name}", self.asset, methods=["GET"]),
        ]

    async def asset(self, request: Request) -> Response:
        """A completed generation's picture, thumbnail or placeholder video."""
        stem, _, ext = request.path_params["name"].rpartition(".")
        try:
            record = self.core.store.get(str(uuid.UUID(stem)))
        except (ValueError, ApiError):
            return error_response(_NOT_FOUND)
        if ext not in CONTENT_TYPES or record.state(time.monotonic()) != COMPLETED:
            return error_response(_NOT_FOUND)
        if ext == "mp4":
            if record.family != "video":
                return error_response(_NOT_FOUND)
            data = placeholder_video(record.id)
        else:
            if ext != (record.image_format if record.family == "image" else "jpg"):
                return error_response(_NOT_FOUND)
            data = await run_in_threadpool(
                self.core.pictures.picture,
                record.id,
                record.prompt or record.id,
                record.aspect_ratio,
                ext,
                self.core.config.image_long_side,
            )
        return Response(
            data, media_type=CONTENT_TYPES[ext], headers={"Cache-Control": "public, max-age=3600"}
        )

    async def blob(self, request: Request) -> Response:
        """Exactly ``size`` deterministic bytes, streamed."""
        text = request.path_params["size"]
        if not text.isdigit() or int(text) > BLOB_MAX:
            return error_response(ApiError(404, f"blob size must be an integer from 0 to {BLOB_MAX}"))
        size = int(text)

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in blob_chunks(size):
                yield chunk

        return StreamingResponse(
            chunks(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
        )
