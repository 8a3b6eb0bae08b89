"""
The Agents API's request bodies as pydantic models, and the 400 answers they give.

The shapes are the ``luma-agents`` SDK's ``*Params`` types. A body that does not fit (invalid
JSON, a missing ``prompt``, a wrong JSON type, a value outside an enum: ``type``, ``model``,
``aspect_ratio``, ``output_format``, ``style``, a video ``duration`` or ``resolution``...) is a
400 "invalid request parameters", as Luma's error guide has it, with a ``detail`` string naming
each field: ``"type: Input should be 'image', 'image_edit', ... or 'layering'"``. Validation is
pydantic's default lax mode; unknown fields are ignored and ``null`` means not set.
"""

from __future__ import annotations

import json
from datetime import datetime  # noqa: TC003 (pydantic reads the annotations at runtime)
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from airflow_provider_luma.testing import agents_catalog as catalog
from airflow_provider_luma.testing.errors import ApiError

if TYPE_CHECKING:  # mypy reads no Literal built at runtime: to it the enums are strings
    AspectRatio = str
    Duration = str
    EditStrength = str
    FilePurpose = str
    GenerationType = str
    LayeringResolution = str
    ModelName = str
    OutputFormat = str
    PoseStrength = str
    Resolution = str
    Style = str
else:
    AspectRatio = Literal[catalog.ASPECT_RATIOS]
    Duration = Literal[catalog.DURATIONS]
    EditStrength = Literal[catalog.EDIT_STRENGTHS]
    FilePurpose = Literal[catalog.FILE_PURPOSES]
    GenerationType = Literal[catalog.GENERATION_TYPES]
    LayeringResolution = Literal[catalog.LAYERING_RESOLUTIONS]
    ModelName = Literal[catalog.MODELS]
    OutputFormat = Literal[catalog.OUTPUT_FORMATS]
    PoseStrength = Literal[catalog.POSE_STRENGTHS]
    Resolution = Literal[catalog.RESOLUTIONS]
    Style = Literal[catalog.STYLES]

Model = TypeVar("Model", bound=BaseModel)
Unit = Annotated[float, Field(ge=0, le=1)]
Extent = Annotated[float, Field(gt=0, le=2)]


class Ref(BaseModel):
    """``ImageRefParam``: exactly one of ``url``, ``data``, ``generation_id``, ``file_id``."""

    url: str | None = None
    data: str | None = None
    generation_id: str | None = None
    file_id: str | None = None
    media_type: str | None = None


class Toggle(BaseModel):
    """A conditioning control that can be switched on or off."""

    enabled: bool | None = None


class DepthControl(Toggle):
    """``DepthControlParam``."""

    blur: Unit | None = None


class NormalsControl(Toggle):
    """``NormalsControlParam``."""

    augmentation: Unit | None = None


class PoseControl(Toggle):
    """``PoseControlParam``."""

    strength: PoseStrength | None = None


class TrajectoryControl(Toggle):
    """``TrajectoryControlParam``."""

    sparsity: Unit | None = None


class AdvancedControls(BaseModel):
    """``AdvancedControlsParam``."""

    depth: DepthControl | None = None
    face: Toggle | None = None
    normals: NormalsControl | None = None
    pose: PoseControl | None = None
    trajectory: TrajectoryControl | None = None


class EditOptions(BaseModel):
    """``VideoEditOptionsParam`` (``video.edit``)."""

    auto_controls: bool | None = None
    controls: AdvancedControls | None = None
    keyframe_indexes: list[int] | None = None
    keyframes: list[Ref] | None = None
    strength: EditStrength | None = None


class SourcePosition(BaseModel):
    """``SourcePositionParam`` (``video.source_position``)."""

    h_norm: Extent
    w_norm: Extent
    x_norm: float
    y_norm: float


class VideoOptions(BaseModel):
    """``VideoOptionsParam`` (``video``)."""

    duration: Duration | None = None
    edit: EditOptions | None = None
    end_frame: Ref | None = None
    exr_export: bool | None = None
    hdr: bool | None = None
    keyframe_indexes: list[int] | None = None
    keyframes: list[Ref] | None = None
    loop: bool | None = None
    resolution: Resolution | None = None
    source_position: SourcePosition | None = None
    start_frame: Ref | None = None


class LayeringOptions(BaseModel):
    """``Layering`` (``layering``)."""

    resolution: LayeringResolution | None = None


class GenerationRequest(BaseModel):
    """``POST /generations`` (``GenerationCreateParams``)."""

    prompt: str
    type: GenerationType | None = None
    model: ModelName | None = None
    aspect_ratio: AspectRatio | None = None
    output_format: OutputFormat | None = None
    style: Style | None = None
    image_ref: list[Ref] | None = None
    source: Ref | None = None
    video: VideoOptions | None = None
    layering: LayeringOptions | None = None
    web_search: bool | None = None
    user_id: str | None = None


class FileRequest(BaseModel):
    """``POST /files`` as JSON, a presigned upload (``FileCreateParams``)."""

    mime_type: str
    size_bytes: Annotated[int, Field(ge=1, le=catalog.MAX_FILE_BYTES)]
    expires_at: datetime | None = None
    filename: str | None = None
    purpose: FilePurpose | None = None
    user_id: str | None = None


def _where(loc: tuple[int | str, ...]) -> str:
    """``("image_ref", 0, "url")`` -> ``"image_ref[0].url"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def invalid(error: ValidationError) -> ApiError:
    """
    Return the 400 answer for a pydantic error: every problem as ``"field: message"``.

    :param error: what pydantic raised.
    """
    problems = [f"{_where(item['loc'])}: {item['msg']}" for item in error.errors(include_url=False)]
    return ApiError(400, "; ".join(problems))


def parse(model: type[Model], body: Any) -> Model:
    """
    Validate a decoded body against a request model, or raise the 400 answer.

    :param model: the request model.
    :param body: the decoded body (a non-object is a 400 too).
    """
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise invalid(error) from None


def decode_json(raw: bytes) -> Any:
    """
    Decode a JSON request body, or raise the 400 answer.

    :param raw: the raw body.
    """
    if not raw.strip():
        raise ApiError(400, "body: a JSON object is required")
    try:
        return json.loads(raw)
    except ValueError as error:  # JSONDecodeError, or bytes that are not text
        raise ApiError(400, f"body: invalid JSON ({error})") from None
