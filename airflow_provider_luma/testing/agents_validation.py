"""
Validation of Agents API requests, the way Luma's error guide describes the answers.

* 400 "invalid request parameters": what the schema says (:mod:`.agents_schemas`), a prompt that
  is empty or too long (1 to 6,000 characters; a layering's at most 500), too many ``image_ref``
  (9 for ``image``, 8 for ``image_edit``) or keyframes (64), a media reference that does not give
  exactly one of ``url``, ``data``, ``generation_id``, ``file_id``, ``data`` without
  ``media_type``, an id that is not a UUID, an unsupported file ``mime_type``;
* 422 "parameter combination rejected, or bad media data": a model with a type it does not do
  (``uni-1``/``uni-1-max`` make ``image``, ``image_edit`` and ``layering`` (``uni-1`` only);
  ``ray-3.2`` the video types), an edit type without ``source``, video or layering options with
  another type, Ray 3.2's rules (loop, HDR, EXR, keyframes, start and end frames, edit options,
  source position), an aspect ratio Ray 3.2 does not render, a ``url`` that is not http(s),
  ``data`` that is not base64 or not the media its ``media_type`` says;
* 413: inline ``data`` over 50 MB.

References to files and generations are checked by the store (:mod:`.agents_store`): they need
its state. Every create validator returns an :class:`AgentsSpec`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_luma.testing import agents_catalog as catalog
from airflow_provider_luma.testing import agents_schemas as schemas
from airflow_provider_luma.testing.agents_media import media_problem
from airflow_provider_luma.testing.errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class RefUse:
    """
    One media reference of a request, and the media its position takes.

    :param where: the field, e.g. ``source``, ``image_ref[2]``, ``video.start_frame``.
    :param ref: the reference.
    :param media: ``"image"`` or ``"video"``: what a file or a generation referenced there must be.
    """

    where: str
    ref: schemas.Ref
    media: str


@dataclass(frozen=True)
class AgentsSpec:
    """
    A validated ``POST /generations``.

    :param type: the generation type.
    :param model: the model (the type's default when not given).
    :param prompt: the prompt.
    :param aspect_ratio: the aspect ratio of the outputs.
    :param image_format: ``"png"`` or ``"jpg"``, for image outputs.
    :param refs: the media references the store must resolve.
    :param cost: the price, in US cents.
    """

    type: str
    model: str
    prompt: str
    aspect_ratio: str
    image_format: str = "png"
    refs: tuple[RefUse, ...] = field(default_factory=tuple)
    cost: float = 0.0


@dataclass(frozen=True)
class FileSpec:
    """
    A validated ``POST /files``.

    :param mime_type: the MIME type of the bytes to come.
    :param size_bytes: their exact size.
    :param purpose: ``input`` or ``reference``.
    :param expires_at: when the file is deleted by itself, if ever (UTC).
    :param filename: the original file name, if given.
    :param user_id: the end-user tag, if given.
    """

    mime_type: str
    size_bytes: int
    purpose: str = "input"
    expires_at: datetime | None = None
    filename: str | None = None
    user_id: str | None = None


def bad(message: str) -> ApiError:
    """
    A 400 answer: invalid request parameters.

    :param message: what is wrong.
    """
    return ApiError(400, message)


def rejected(message: str) -> ApiError:
    """
    A 422 answer: a parameter combination rejected, or bad media data.

    :param message: what is wrong.
    """
    return ApiError(422, message)


def _check_prompt(prompt: str, generation_type: str) -> None:
    if generation_type == "layering":
        if len(prompt) > catalog.LAYERING_PROMPT_MAX:
            raise bad(f"prompt: at most {catalog.LAYERING_PROMPT_MAX} characters for type layering")
        return
    if not prompt.strip():
        raise bad("prompt: must not be empty")
    if len(prompt) > catalog.PROMPT_MAX:
        raise bad(f"prompt: at most {catalog.PROMPT_MAX} characters; got {len(prompt)}")


def _check_model(model: str, generation_type: str, aspect_ratio: str | None) -> None:
    video = generation_type in catalog.VIDEO_TYPES
    if video and model not in catalog.VIDEO_MODELS:
        raise rejected(f"model {model} does not support type {generation_type}; use ray-3.2")
    if not video and model not in catalog.IMAGE_MODELS:
        raise rejected(f"model {model} does not support type {generation_type}; use uni-1 or uni-1-max")
    if generation_type == "layering" and model != "uni-1":
        raise rejected(f"type layering supports only model uni-1; got {model}")
    if video and aspect_ratio is not None and aspect_ratio not in catalog.VIDEO_ASPECT_RATIOS:
        raise rejected(
            f"aspect_ratio {aspect_ratio} is not supported by {model}; "
            f"use one of {', '.join(catalog.VIDEO_ASPECT_RATIOS)}"
        )


def _uuid(where: str, value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise bad(f"{where}: must be a UUID; got {value[:80]!r}") from None


def _check_data(where: str, data: str, media_type: str) -> None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise rejected(f"{where}.data: not valid base64") from None
    if len(raw) > catalog.MAX_INLINE_BYTES:
        raise ApiError(413, f"{where}.data: the media exceeds {catalog.MAX_INLINE_BYTES // 2**20} MB")
    problem = media_problem(raw, media_type)
    if problem:
        raise rejected(f"{where}.data: {problem}")


def _check_ref(use: RefUse, media_type_required: bool) -> None:
    """Apply the rules of one reference that need no state."""
    ref, where = use.ref, use.where
    given = [name for name in ("url", "data", "generation_id", "file_id") if getattr(ref, name) is not None]
    if len(given) != 1:
        got = " and ".join(given) if given else "none"
        raise bad(f"{where}: provide exactly one of url, data, generation_id or file_id; got {got}")
    if ref.generation_id is not None:
        _uuid(f"{where}.generation_id", ref.generation_id)
        return
    if ref.file_id is not None:
        _uuid(f"{where}.file_id", ref.file_id)
        return
    media_type = ref.media_type
    if media_type is None and (ref.data is not None or media_type_required):
        raise bad(f"{where}.media_type: required with {where}.{given[0]} here")
    if media_type is not None and not media_type.startswith(use.media + "/"):
        raise rejected(f"{where}.media_type: {use.media} media is needed here; got {media_type}")
    if ref.url is not None:
        parts = urlsplit(ref.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise rejected(f"{where}.url: must be a public http(s) URL; got {ref.url[:200]!r}")
    elif ref.data is not None and media_type is not None:
        _check_data(where, ref.data, media_type)


def _indexed(name: str, refs: Sequence[schemas.Ref] | None, media: str) -> list[RefUse]:
    return [RefUse(f"{name}[{i}]", ref, media) for i, ref in enumerate(refs or [])]


def _frame(name: str, ref: schemas.Ref | None) -> list[RefUse]:
    """A start or end frame: an image, or a prior video to extend (by generation id)."""
    if ref is None:
        return []
    return [RefUse(name, ref, "video" if ref.generation_id is not None else "image")]


def _check_keyframes(
    where: str, keyframes: list[schemas.Ref] | None, indexes: list[int] | None, last_frame: int | None
) -> None:
    if keyframes is None:
        if indexes is not None:
            raise rejected(f"{where}.keyframe_indexes: given without {where}.keyframes")
        return
    if not 1 <= len(keyframes) <= catalog.MAX_KEYFRAMES:
        raise bad(f"{where}.keyframes: 1 to {catalog.MAX_KEYFRAMES} anchors; got {len(keyframes)}")
    if indexes is None or len(indexes) != len(keyframes):
        raise rejected(f"{where}.keyframe_indexes: one index per keyframe is needed")
    if len(set(indexes)) != len(indexes) or min(indexes) < 0:
        raise rejected(f"{where}.keyframe_indexes: must be unique and non-negative")
    if last_frame is not None and max(indexes) > last_frame:
        raise rejected(f"{where}.keyframe_indexes: frames go from 0 to {last_frame} for this duration")


def _check_video(request: schemas.GenerationRequest, generation_type: str) -> list[RefUse]:
    """Apply Ray 3.2's rules; return the references in ``video``."""
    video = request.video
    if video is None:
        return []
    if generation_type not in catalog.VIDEO_TYPES:
        raise rejected("video: only valid for types video, video_edit and video_reframe")
    seconds = 10 if video.duration == "10s" else 5
    resolution = video.resolution or "720p"
    if video.loop and generation_type != "video":
        raise rejected("video.loop: only valid for type video")
    if video.loop and (seconds == 10 or video.hdr):
        raise rejected("video.loop: not supported with duration 10s or hdr")
    if video.hdr and generation_type == "video_reframe":
        raise rejected("video.hdr: not supported for video_reframe")
    if video.hdr and resolution not in catalog.HDR_RESOLUTIONS:
        raise rejected(f"video.hdr: needs resolution 720p or 1080p; got {resolution}")
    if video.exr_export and not video.hdr:
        raise rejected("video.exr_export: requires hdr=true")
    if video.keyframes is not None or video.keyframe_indexes is not None:
        if generation_type != "video":
            raise rejected("video.keyframes: only valid for type video (video.edit.keyframes for video_edit)")
        if video.start_frame is not None or video.end_frame is not None or video.loop:
            raise rejected("video.keyframes: mutually exclusive with start_frame, end_frame and loop")
    _check_keyframes("video", video.keyframes, video.keyframe_indexes, seconds * catalog.FRAMES_PER_SECOND)
    frames = video.start_frame is not None or video.end_frame is not None
    if video.end_frame is not None and generation_type != "video":
        raise rejected("video.end_frame: only valid for type video")
    if video.start_frame is not None and generation_type not in ("video", "video_edit"):
        raise rejected("video.start_frame: only valid for types video and video_edit")
    if frames and (seconds == 10 or video.hdr):
        raise rejected("video.start_frame/end_frame: not supported with duration 10s or hdr (use keyframes)")
    edit = video.edit
    if edit is not None:
        if generation_type != "video_edit":
            raise rejected("video.edit: only valid for type video_edit")
        if edit.keyframes is not None and video.start_frame is not None:
            raise rejected("video.edit.keyframes: mutually exclusive with video.start_frame")
        _check_keyframes("video.edit", edit.keyframes, edit.keyframe_indexes, None)
    if video.source_position is not None and generation_type != "video_reframe":
        raise rejected("video.source_position: only valid for type video_reframe")
    return [
        *_frame("video.start_frame", video.start_frame),
        *_frame("video.end_frame", video.end_frame),
        *_indexed("video.keyframes", video.keyframes, "image"),
        *_indexed("video.edit.keyframes", edit.keyframes if edit else None, "image"),
    ]


def _price(request: schemas.GenerationRequest, generation_type: str, model: str) -> float:
    if generation_type == "layering":
        resolution = request.layering.resolution if request.layering else None
        return catalog.layering_price_cents(resolution or "1k")
    if generation_type in catalog.VIDEO_TYPES:
        video = request.video
        seconds = 10 if video and video.duration == "10s" and generation_type == "video" else 5
        resolution = (video.resolution if video else None) or "720p"
        return catalog.video_price_cents(resolution, seconds, bool(video and video.hdr))
    references = len(request.image_ref or []) + (1 if generation_type == "image_edit" else 0)
    return catalog.image_price_cents(model, references)


def validate_generation(body: Any) -> AgentsSpec:
    """
    Validate ``POST /generations``.

    :param body: the decoded JSON body.
    """
    request = schemas.parse(schemas.GenerationRequest, body)
    generation_type = request.type or "image"
    video_type = generation_type in catalog.VIDEO_TYPES
    model = request.model or ("ray-3.2" if video_type else "uni-1")
    _check_prompt(request.prompt, generation_type)
    _check_model(model, generation_type, request.aspect_ratio)
    most = catalog.MAX_IMAGE_REFS.get(generation_type, max(catalog.MAX_IMAGE_REFS.values()))
    if len(request.image_ref or []) > most:
        raise bad(
            f"image_ref: at most {most} images for type {generation_type}; got {len(request.image_ref or [])}"
        )
    if generation_type in catalog.SOURCE_TYPES and request.source is None:
        raise rejected(f"source: type {generation_type} needs a source")
    if request.layering is not None and generation_type != "layering":
        raise rejected("layering: only valid for type layering")
    source_media = "video" if generation_type in ("video_edit", "video_reframe") else "image"
    refs = [
        *([RefUse("source", request.source, source_media)] if request.source is not None else []),
        *_indexed("image_ref", request.image_ref, "image"),
        *_check_video(request, generation_type),
    ]
    for use in refs:
        _check_ref(use, media_type_required=use.where == "source" and source_media == "video")
    return AgentsSpec(
        type=generation_type,
        model=model,
        prompt=request.prompt,
        aspect_ratio=request.aspect_ratio or ("16:9" if video_type else "1:1"),
        image_format="jpg" if request.output_format == "jpeg" else "png",
        refs=tuple(refs),
        cost=_price(request, generation_type, model),
    )


def validate_file(body: Any) -> FileSpec:
    """
    Validate ``POST /files`` as JSON (a presigned upload).

    :param body: the decoded JSON body.
    """
    request = schemas.parse(schemas.FileRequest, body)
    check_mime_type(request.mime_type)
    return FileSpec(
        mime_type=request.mime_type,
        size_bytes=request.size_bytes,
        purpose=request.purpose or "input",
        expires_at=check_expiry(request.expires_at),
        filename=request.filename,
        user_id=request.user_id,
    )


def check_mime_type(mime_type: str) -> None:
    """
    Refuse (400) a file MIME type the Agents API does not take.

    :param mime_type: the MIME type.
    """
    known = (*catalog.IMAGE_MIME_TYPES, *catalog.VIDEO_MIME_TYPES)
    if mime_type not in known:
        raise bad(f"mime_type: must be one of {', '.join(known)}; got {mime_type!r}")


def check_expiry(expires_at: datetime | None) -> datetime | None:
    """
    Return ``expires_at`` in UTC (naive times are taken as UTC), or refuse (400) one in the past.

    :param expires_at: the requested expiry, if any.
    """
    if expires_at is None:
        return None
    when = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=timezone.utc)
    when = when.astimezone(timezone.utc)
    if when <= datetime.now(timezone.utc):
        raise bad(f"expires_at: must be in the future; got {when.isoformat()}")
    return when
