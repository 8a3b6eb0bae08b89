"""
The storage side of the Agents API, without Bearer auth, as S3 and a CDN would serve it:

* ``PUT /uploads/{token}``: the presigned upload URL of a file (:mod:`.agents_files`); refusals
  are S3-style XML errors (403 ``AccessDenied`` for an unknown or expired token or a closed
  upload, 403 ``SignatureDoesNotMatch`` for another ``Content-Type`` than the one signed, 400 when
  the body is not ``size_bytes`` long); success is 200 with an ``ETag``;
* ``GET /assets/agents/{id}/{index}.{ext}``: the outputs of a completed generation: real PNG or
  JPEG pictures (:mod:`.picture`, one per layer for a layering), the placeholder video for video
  types (:func:`~.assets.placeholder_video`); 404 before completion.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_luma.testing.agents_catalog import LAYERS, OUTPUTS_PREFIX, UPLOADS_PREFIX
from airflow_provider_luma.testing.agents_files import UploadRefused
from airflow_provider_luma.testing.assets import CONTENT_TYPES, placeholder_video
from airflow_provider_luma.testing.errors import ApiError
from airflow_provider_luma.testing.generations import COMPLETED
from airflow_provider_luma.testing.handlers import error_response

if TYPE_CHECKING:
    from starlette.requests import Request

    from airflow_provider_luma.testing.core import EmulatorCore

_NOT_FOUND = ApiError(404, "Not Found")


def s3_error(refused: UploadRefused) -> Response:
    """
    Answer a refused upload as S3 does: an XML ``<Error>``.

    :param refused: the refusal.
    """
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(refused.code)}</Code><Message>{escape(refused.message)}</Message></Error>"
    )
    return Response(body.encode(), status_code=refused.status, media_type="application/xml")


class AgentsStorageHandlers:
    """
    The upload and output routes of one emulator.

    :param core: the emulator's state.
    """

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Return the routes."""
        return [
            Route(UPLOADS_PREFIX + "{token}", self.upload, methods=["PUT"]),
            Route(OUTPUTS_PREFIX + "{id}/{name}", self.output, methods=["GET"]),
        ]

    async def upload(self, request: Request) -> Response:
        """``PUT /uploads/{token}``: the bytes of a presigned upload."""
        data = await request.body()
        try:
            etag = self.core.agent_files.upload(
                request.path_params["token"], data, request.headers.get("content-type")
            )
        except UploadRefused as refused:
            return s3_error(refused)
        return Response(status_code=200, headers={"ETag": etag})

    async def output(self, request: Request) -> Response:
        """``GET /assets/agents/{id}/{index}.{ext}``: one output of a completed generation."""
        stem, _, ext = request.path_params["name"].partition(".")
        try:
            record = self.core.agents.get(request.path_params["id"])
        except ApiError:
            return error_response(_NOT_FOUND)
        if (
            record.state(time.monotonic()) != COMPLETED
            or not stem.isdigit()
            or int(stem) >= record.output_count
            or ext != record.output_ext
        ):
            return error_response(_NOT_FOUND)
        index = int(stem)
        if record.is_video:
            data = placeholder_video(record.id)
        else:
            layered = record.kind == "layering"
            data = await run_in_threadpool(
                self.core.pictures.picture,
                f"{record.id}/{index}" if layered else record.id,
                (f"{LAYERS[index][0]}: " if layered else "") + (record.prompt or record.id),
                record.aspect_ratio,
                ext,
                self.core.config.image_long_side,
            )
        return Response(
            data, media_type=CONTENT_TYPES[ext], headers={"Cache-Control": "public, max-age=3600"}
        )
