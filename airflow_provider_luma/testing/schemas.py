"""
The request schemas of the create endpoints as pydantic models, and the 422 answers they give.

The real API is a FastAPI service, so its 422 bodies are what pydantic says about a request, in
FastAPI's shape: ``{"detail": [{"type", "loc", "msg", "input", "ctx"?}]}`` with ``loc`` starting
with ``"body"``, ``"path"`` or ``"query"``. Values are validated as FastAPI does it
(``validate_python(value, from_attributes=True)``, then ``errors(include_url=False)``), so the
bodies are FastAPI's word for word, for the installed pydantic.

The mode is pydantic's default lax one, as in FastAPI: ``"5"`` passes for an int or a number,
``"true"`` or ``"yes"`` for a bool; ``1.5`` for an int, ``"maybe"`` for a bool or ``42`` for a
string are 422s. Unknown fields are ignored and ``None`` for an optional field means unset.
``model``, ``resolution`` and ``duration`` are free strings here: Luma answers a value it does
not know with a 400 (:mod:`.validation`), not a 422.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from airflow_provider_luma.testing import catalog
from airflow_provider_luma.testing.errors import ApiError

if TYPE_CHECKING:  # mypy reads no Literal built at runtime: to it the enums are strings
    AspectRatio = str
    ImageFormat = str
    ModifyMode = str
else:
    AspectRatio = Literal[catalog.ASPECT_RATIOS]
    ImageFormat = Literal[catalog.IMAGE_FORMATS]
    ModifyMode = Literal[catalog.MODIFY_MODES]

Model = TypeVar("Model", bound=BaseModel)


class Ref(BaseModel):
    """An ``image_ref``, ``style_ref`` or ``modify_image_ref`` entry."""

    url: str | None = None
    weight: float | None = None


class Identity(BaseModel):
    """``character_ref.identity0``."""

    images: list[str] | None = None


class CharacterRef(BaseModel):
    """``character_ref``."""

    identity0: Identity | None = None


class Media(BaseModel):
    """``media`` or ``first_frame``."""

    url: str


class GenerationFrame(BaseModel):
    """A keyframe that is an earlier generation."""

    type: Literal["generation"]
    id: str


class ImageFrame(BaseModel):
    """A keyframe that is an image."""

    type: Literal["image"]
    url: str


# The SDK's order, which pydantic repeats in union_tag_invalid's "expected tags".
Keyframe = Annotated[GenerationFrame | ImageFrame, Field(discriminator="type")]


class Keyframes(BaseModel):
    """``keyframes``: the first and the last frame."""

    frame0: Keyframe | None = None
    frame1: Keyframe | None = None


class Concept(BaseModel):
    """A ``concepts`` entry."""

    key: str


class ImageRequest(BaseModel):
    """``POST /generations/image``."""

    generation_type: Literal["image"] | None = None
    model: str
    prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    format: ImageFormat | None = None
    callback_url: str | None = None
    sync: bool | None = None
    sync_timeout: float | None = None
    image_ref: list[Ref] | None = None
    style_ref: list[Ref] | None = None
    modify_image_ref: Ref | None = None
    character_ref: CharacterRef | None = None


class MediaRequest(BaseModel):
    """The fields every request that edits a media file has."""

    media: Media
    prompt: str | None = None
    callback_url: str | None = None


class ReframeRequest(MediaRequest):
    """The fields both reframe requests have."""

    aspect_ratio: AspectRatio
    grid_position_x: int | None = None
    grid_position_y: int | None = None
    resized_height: int | None = None
    resized_width: int | None = None
    x_end: int | None = None
    x_start: int | None = None
    y_end: int | None = None
    y_start: int | None = None


class ImageReframeRequest(ReframeRequest):
    """``POST /generations/image/reframe``."""

    generation_type: Literal["reframe_image"]
    model: str
    format: ImageFormat | None = None


class VideoReframeRequest(ReframeRequest):
    """``POST /generations/video/reframe``."""

    generation_type: Literal["reframe_video"]
    model: str
    first_frame: Media | None = None


class VideoModifyRequest(MediaRequest):
    """``POST /generations/video/modify``."""

    generation_type: Literal["modify_video"]
    model: str
    mode: ModifyMode
    first_frame: Media | None = None


class VideoRequest(BaseModel):
    """``POST /generations/video`` and ``POST /generations``."""

    generation_type: Literal["video"] | None = None
    model: str
    prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    loop: bool | None = None
    keyframes: Keyframes | None = None
    resolution: str | None = None
    duration: str | None = None
    concepts: list[Concept] | None = None
    callback_url: str | None = None


class UpscaleRequest(BaseModel):
    """``POST /generations/{id}/upscale``."""

    generation_type: Literal["upscale_video"] | None = None
    resolution: str | None = None
    callback_url: str | None = None


class AudioRequest(BaseModel):
    """``POST /generations/{id}/audio``."""

    generation_type: Literal["add_audio"] | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    callback_url: str | None = None


def unprocessable(error: ValidationError, *loc: str) -> ApiError:
    """
    Return FastAPI's 422 answer for a pydantic error.

    :param error: what pydantic raised.
    :param loc: where the validated value is, e.g. ``("body",)`` or ``("path", "id")``.
    """
    return ApiError(422, [{**item, "loc": [*loc, *item["loc"]]} for item in error.errors(include_url=False)])


def parse_body(model: type[Model], body: Any) -> Model:
    """
    Validate a decoded JSON body against a request model, or raise FastAPI's 422.

    :param model: the request model.
    :param body: the decoded body (a non-object is a 422 too).
    """
    try:
        return model.model_validate(body, from_attributes=True)
    except ValidationError as error:
        raise unprocessable(error, "body") from None


def parse_json_body(raw: bytes, *, allow_empty: bool = False) -> Any:
    """
    Decode a request body as FastAPI does, raising its 422 (400 for bytes that are not text).

    :param raw: the raw body.
    :param allow_empty: take an empty (or null) body as ``{}`` (endpoints whose fields are all optional).
    """
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ["body", exc.pos], "msg": "JSON decode error", "input": {}}
        raise ApiError(422, [{**error, "ctx": {"error": exc.msg}}]) from None
    except ValueError:  # not UTF-8 (or -16, -32)
        raise ApiError(400, "There was an error parsing the body") from None
    if body is None and not allow_empty:  # FastAPI takes an empty body and null alike: not sent
        raise ApiError(422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}])
    return {} if body is None else body


_UUID = TypeAdapter(uuid.UUID)


def parse_generation_id(value: str) -> str:
    """
    Check a generation id from a URL path (a UUID), or raise FastAPI's 422.

    :param value: the path segment.
    """
    try:
        return str(_UUID.validate_python(value, from_attributes=True))
    except ValidationError as error:
        raise unprocessable(error, "path", "id") from None


_COUNT = TypeAdapter(Annotated[int, Field(ge=0)])


def parse_count(name: str, raw: str) -> int:
    """
    Check a paging query parameter (an integer, 0 or more), or raise FastAPI's 422.

    :param name: the parameter.
    :param raw: its value.
    """
    try:
        return _COUNT.validate_python(raw, from_attributes=True)
    except ValidationError as error:
        raise unprocessable(error, "query", name) from None
