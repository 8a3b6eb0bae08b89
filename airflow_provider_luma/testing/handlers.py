"""
The 13 Dream Machine API endpoints as Starlette routes under ``/dream-machine/v1`` (and video
creates also on ``POST /generations``, the older path).

Every endpoint checks ``Authorization: Bearer <key>`` first (401 otherwise; the answer never
repeats the key), then validates the request (422/400, see :mod:`.validation`), then acts on the
:class:`~.core.EmulatorCore`. Creates answer 201 with the generation object, DELETE answers 204.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_luma.testing import catalog, validation
from airflow_provider_luma.testing.errors import ApiError
from airflow_provider_luma.testing.routes import API_ROUTES
from airflow_provider_luma.testing.schemas import parse_count, parse_generation_id, parse_json_body

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from starlette.requests import Request

    from airflow_provider_luma.testing.core import EmulatorCore
    from airflow_provider_luma.testing.generations import GenerationRecord
    from airflow_provider_luma.testing.validation import CreateSpec

    Endpoint = Callable[[Request], Awaitable[Response]]

JSON = "application/json"
LIST_LIMIT_DEFAULT = 100
_CONCEPTS_BODY = json.dumps(list(catalog.CONCEPTS)).encode()
_PING_BODY = b'{"message":"pong"}'


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """
    Answer with JSON.

    :param data: the JSON-ready value.
    :param status: the HTTP status.
    :param headers: extra headers.
    """
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def error_response(error: ApiError) -> Response:
    """
    Answer an :class:`~.errors.ApiError` as ``{"detail": ...}``.

    :param error: the error.
    """
    return json_response({"detail": error.detail}, error.status, error.headers)


def check_bearer(request: Request, api_key: str) -> None:
    """
    Raise 401 unless the request carries ``Authorization: Bearer <api_key>``.

    :param request: the request.
    :param api_key: the accepted key.
    """
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "Not authenticated: send the header 'Authorization: Bearer <api key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise ApiError(401, "Invalid API key", {"WWW-Authenticate": "Bearer"})


def _count_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    return default if raw is None else parse_count(name, raw)


class ApiHandlers:
    """
    The API endpoints of one emulator.

    :param core: the emulator's state.
    """

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Return the API routes, in :data:`~.routes.API_ROUTES` order."""
        endpoints: dict[tuple[str, str], Endpoint] = {
            ("POST", "/generations/image"): self._creator(validation.validate_image),
            ("POST", "/generations/image/reframe"): self._creator(validation.validate_image_reframe),
            ("POST", "/generations/video"): self._creator(validation.validate_video),
            # Luma's docs' curl examples and the SDKs before mid-2025 post video creates here.
            ("POST", "/generations"): self._creator(validation.validate_video),
            ("POST", "/generations/video/modify"): self._creator(validation.validate_video_modify),
            ("POST", "/generations/video/reframe"): self._creator(validation.validate_video_reframe),
            ("POST", "/generations/{id}/upscale"): self._creator(
                validation.validate_upscale, from_source=True
            ),
            ("POST", "/generations/{id}/audio"): self._creator(validation.validate_audio, from_source=True),
            ("GET", "/generations/{id}"): self.get_generation,
            ("DELETE", "/generations/{id}"): self.delete_generation,
            ("GET", "/generations"): self.list_generations,
            ("GET", "/generations/concepts/list"): self.list_concepts,
            ("GET", "/credits"): self.get_credits,
            ("GET", "/ping"): self.ping,
        }
        return [
            Route(
                catalog.API_PREFIX + template, self._guarded(endpoints[(method, template)]), methods=[method]
            )
            for method, template in API_ROUTES
        ]

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        api_key = self.core.api_key

        async def guarded(request: Request) -> Response:
            try:
                check_bearer(request, api_key)
                return await endpoint(request)
            except ApiError as error:
                return error_response(error)

        return guarded

    def _generation_response(self, request: Request, record: GenerationRecord, status: int = 200) -> Response:
        base = self.core.asset_base(request.headers.get("host"), request.url.scheme)
        _, body = record.render(time.monotonic(), base)
        return Response(body, status_code=status, media_type=JSON)

    def _creator(self, validate: Callable[[Any], CreateSpec], from_source: bool = False) -> Endpoint:
        async def create(request: Request) -> Response:
            source_id = parse_generation_id(request.path_params["id"]) if from_source else None
            body = parse_json_body(await request.body(), allow_empty=from_source)
            spec = validate(body)
            record = self.core.create(spec, source_id)
            if spec.sync:
                await self._wait_until_done(
                    record, self.core.config.sync_timeout if spec.sync_timeout is None else spec.sync_timeout
                )
            return self._generation_response(request, record, 201)

        return create

    async def _wait_until_done(self, record: GenerationRecord, timeout: float) -> None:
        finish = record.finishes_at()
        wait = timeout if finish is None else min(timeout, finish - time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait + 0.005)

    async def get_generation(self, request: Request) -> Response:
        """``GET /generations/{id}``."""
        generation_id = parse_generation_id(request.path_params["id"])
        return self._generation_response(request, self.core.store.get(generation_id))

    async def delete_generation(self, request: Request) -> Response:
        """``DELETE /generations/{id}``: 204, or 404 if unknown."""
        self.core.store.delete(parse_generation_id(request.path_params["id"]))
        return Response(status_code=204)

    async def list_generations(self, request: Request) -> Response:
        """
        ``GET /generations?limit=&offset=``: newest first.

        Only what cannot mean anything is refused (a non-integer, a negative number); the API
        documents no upper bound and ``limit=0`` answers an empty page with the right ``has_more``.
        """
        limit = _count_param(request, "limit", LIST_LIMIT_DEFAULT)
        offset = _count_param(request, "offset", 0)
        records, has_more = self.core.store.page(limit, offset)
        now = time.monotonic()
        base = self.core.asset_base(request.headers.get("host"), request.url.scheme)
        items = b",".join(record.render(now, base)[1] for record in records)
        tail = json.dumps({"count": len(records), "has_more": has_more, "limit": limit, "offset": offset})
        body = b'{"generations":[' + items + b"]," + tail[1:].encode()
        return Response(body, media_type=JSON)

    async def list_concepts(self, request: Request) -> Response:
        """``GET /generations/concepts/list``: the concept keys."""
        return Response(_CONCEPTS_BODY, media_type=JSON)

    async def get_credits(self, request: Request) -> Response:
        """``GET /credits``: the balance in US cents."""
        return json_response({"credit_balance": self.core.store.balance()})

    async def ping(self, request: Request) -> Response:
        """``GET /ping``."""
        return Response(_PING_BODY, media_type=JSON)
