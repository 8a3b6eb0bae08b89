"""
Validation of create requests, the way the real API answers them.

Two kinds of error, as a FastAPI service gives them:

* 422 with pydantic's list of errors for what the request schema says (:mod:`.schemas`): missing
  required fields, wrong JSON types, values outside an enum (``aspect_ratio``, ``format``,
  ``mode``, a keyframe's ``type``), invalid JSON;
* 400 with a string, for Luma's own checks once the schema is met: prompt length and presence
  (messages copied from Luma's error documentation), list sizes, weights in [0, 1], http(s) URLs,
  the model, resolution and duration values (the schema types them as free strings: a model
  Luma does not know is a 400), concept keys, keyframes and loop.

Every validator returns a :class:`CreateSpec`. Its ``request`` echoes the known fields as sent
(not as pydantic coerced them), plus the ``generation_type`` discriminator when the client left
it out, so the SDK's ``Request`` union parses into the right variant. Referenced generations
(keyframes) are checked by the store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from airflow_provider_luma.testing import catalog, schemas
from airflow_provider_luma.testing.errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import BaseModel

Item = TypeVar("Item")


@dataclass(frozen=True)
class CreateSpec:
    """
    A validated create request.

    :param kind: the generation kind (the request's ``generation_type``).
    :param request: the request to echo in the generation object.
    :param model: the model, or None when it comes from the source generation (upscale, audio).
    :param prompt: the prompt, if any.
    :param aspect_ratio: the aspect ratio of the output.
    :param image_format: ``"jpg"`` or ``"png"`` for the picture asset (thumbnails are jpg).
    :param callback_url: where state changes are POSTed, if anywhere.
    :param references: ``(field, generation id)`` pairs that must name completed videos.
    :param resolution: the video resolution, if any.
    :param duration: the video duration, if any.
    :param sync: answer only when the image is done.
    :param sync_timeout: the most to wait in ``sync`` mode, in seconds (0 or less: answer at once).
    """

    kind: str
    request: dict[str, Any]
    model: str | None = None
    prompt: str | None = None
    aspect_ratio: str = "16:9"
    image_format: str = "jpg"
    callback_url: str | None = None
    references: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    resolution: str | None = None
    duration: str | None = None
    sync: bool = False
    sync_timeout: float | None = None


def bad(message: str) -> ApiError:
    """
    A 400 answer with Luma's message.

    :param message: what is wrong.
    """
    return ApiError(400, message)


def check_prompt(prompt: str | None, required: bool) -> None:
    """
    Apply Luma's prompt rules (present if required, 3 to 5,000 characters).

    :param prompt: the prompt, or None.
    :param required: whether a missing prompt is an error.
    """
    if prompt is None:
        if required:
            raise bad("Prompt is required")
        return
    if len(prompt) < catalog.PROMPT_MIN:
        raise bad(f"Prompt is too short, minimum length is {catalog.PROMPT_MIN} characters")
    if len(prompt) > catalog.PROMPT_MAX:
        raise bad(f"Prompt is too long, maximum length is {catalog.PROMPT_MAX} characters")


def check_urls(urls: dict[str, str | None]) -> None:
    """
    Require absolute http(s) URLs.

    :param urls: the URLs by field name (None: not given, accepted).
    """
    for name, value in urls.items():
        if value is None:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad(f"{name} must be a public http(s) URL; got {value[:200]!r}")


def check_refs(refs: dict[str, schemas.Ref]) -> None:
    """
    Require http(s) URLs and weights in [0, 1].

    :param refs: the references by field name, e.g. ``image_ref[0]``.
    """
    for name, ref in refs.items():
        check_urls({f"{name}.url": ref.url})
        if ref.weight is not None and not 0.0 <= ref.weight <= 1.0:
            raise bad(f"{name}.weight must be between 0 and 1; got {ref.weight:g}")


def _check_most(name: str, items: list[Any], most: int) -> None:
    """Refuse a list longer than Luma takes."""
    if len(items) > most:
        raise bad(f"{name} accepts at most {most} images; got {len(items)}")


def _check_choice(name: str, value: str | None, options: tuple[str, ...]) -> None:
    """Refuse a value Luma does not know in a field the schema types as a free string."""
    if value is not None and value not in options:
        raise bad(f"{name} must be one of {', '.join(options)}; got {value!r}")


def _indexed(name: str, items: Sequence[Item] | None) -> dict[str, Item]:
    """Name a list's items for messages: ``image_ref[0]``, ``image_ref[1]``..."""
    return {f"{name}[{i}]": item for i, item in enumerate(items or [])}


def echo(body: dict[str, Any], kind: str, model: type[BaseModel]) -> dict[str, Any]:
    """
    Return the request to echo in the generation object: the known fields as sent, plus the
    ``generation_type`` discriminator (so the SDK picks the right ``Request`` variant).

    :param body: the request body.
    :param kind: the generation kind.
    :param model: the request model, whose fields are the known ones.
    """
    request = {name: body[name] for name in model.model_fields if body.get(name) is not None}
    request["generation_type"] = kind
    return request


def validate_image(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/image``.

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.ImageRequest, body)
    _check_choice("model", request.model, catalog.IMAGE_MODELS)
    check_prompt(request.prompt, required=True)
    _check_most("image_ref", request.image_ref or [], catalog.MAX_IMAGE_REFS)
    modify = {"modify_image_ref": request.modify_image_ref} if request.modify_image_ref is not None else {}
    check_refs(
        {**_indexed("image_ref", request.image_ref), **_indexed("style_ref", request.style_ref), **modify}
    )
    identity = request.character_ref.identity0 if request.character_ref else None
    images = (identity.images if identity else None) or []
    _check_most("character_ref.identity0.images", images, catalog.MAX_CHARACTER_IMAGES)
    check_urls({"callback_url": request.callback_url, **_indexed("character_ref.identity0.images", images)})
    return CreateSpec(
        kind="image",
        request=echo(body, "image", schemas.ImageRequest),
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.aspect_ratio or "16:9",
        image_format=request.format or "jpg",
        callback_url=request.callback_url,
        sync=bool(request.sync),
        sync_timeout=request.sync_timeout,
    )


def _check_media(request: schemas.MediaRequest, first_frame: schemas.Media | None = None) -> None:
    """Apply Luma's rules to the fields every media edit has."""
    check_prompt(request.prompt, required=False)
    urls = {"callback_url": request.callback_url, "media.url": request.media.url}
    check_urls({**urls, "first_frame.url": first_frame.url if first_frame else None})


def validate_image_reframe(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/image/reframe``.

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.ImageReframeRequest, body)
    _check_choice("model", request.model, catalog.IMAGE_MODELS)
    _check_media(request)
    return CreateSpec(
        kind="reframe_image",
        request=echo(body, "reframe_image", schemas.ImageReframeRequest),
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.aspect_ratio,
        image_format=request.format or "jpg",
        callback_url=request.callback_url,
    )


def validate_video_reframe(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/video/reframe``.

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.VideoReframeRequest, body)
    _check_choice("model", request.model, catalog.RAY2_MODELS)
    _check_media(request, request.first_frame)
    return CreateSpec(
        kind="reframe_video",
        request=echo(body, "reframe_video", schemas.VideoReframeRequest),
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.aspect_ratio,
        callback_url=request.callback_url,
    )


def validate_video_modify(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/video/modify``.

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.VideoModifyRequest, body)
    _check_choice("model", request.model, catalog.RAY2_MODELS)
    _check_media(request, request.first_frame)
    return CreateSpec(
        kind="modify_video",
        request=echo(body, "modify_video", schemas.VideoModifyRequest),
        model=request.model,
        prompt=request.prompt,
        callback_url=request.callback_url,
    )


def _check_keyframes(keyframes: schemas.Keyframes, loop: bool) -> list[tuple[str, str]]:
    frame0, frame1 = keyframes.frame0, keyframes.frame1
    if frame0 is None and frame1 is None:
        raise bad("No keyframes provided")
    references = []
    for name, frame in (("frame0", frame0), ("frame1", frame1)):
        if isinstance(frame, schemas.ImageFrame):
            check_urls({f"keyframes.{name}.url": frame.url})
        elif frame is not None:
            try:
                references.append((f"keyframes.{name}", str(uuid.UUID(frame.id))))
            except ValueError:
                raise bad(f"keyframes.{name}.id must be a generation id (a UUID); got {frame.id!r}") from None
    if loop and frame1 is not None:
        if frame0 is None:
            raise bad("Loop is not supported for end frame")
        if frame0.type == "image" and frame1.type == "image":
            raise bad("Loop is not supported for keyframes")
        raise bad("loop is not supported when doing interpolations")
    return references


def validate_video(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/video`` (the SDK's ``generations.create``) and ``POST /generations``.

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.VideoRequest, body)
    _check_choice("model", request.model, catalog.VIDEO_MODELS)
    keyframes = request.keyframes
    references = _check_keyframes(keyframes, bool(request.loop)) if keyframes is not None else []
    check_prompt(request.prompt, required=keyframes is None)
    check_urls({"callback_url": request.callback_url})
    _check_choice("resolution", request.resolution, catalog.RESOLUTIONS)
    _check_choice("duration", request.duration, catalog.DURATIONS)
    for concept in request.concepts or []:
        if concept.key not in catalog.CONCEPTS:
            raise bad(f"Unknown concept {concept.key!r}; GET /generations/concepts/list lists the known ones")
    return CreateSpec(
        kind="video",
        request=echo(body, "video", schemas.VideoRequest),
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.aspect_ratio or "16:9",
        callback_url=request.callback_url,
        references=tuple(references),
        resolution=request.resolution,
        duration=request.duration,
    )


def validate_upscale(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/{id}/upscale`` (the source is checked by the store).

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.UpscaleRequest, body)
    check_urls({"callback_url": request.callback_url})
    _check_choice("resolution", request.resolution, catalog.RESOLUTIONS)
    return CreateSpec(
        kind="upscale_video",
        request=echo(body, "upscale_video", schemas.UpscaleRequest),
        callback_url=request.callback_url,
        resolution=request.resolution or "1080p",
    )


def validate_audio(body: Any) -> CreateSpec:
    """
    Validate ``POST /generations/{id}/audio`` (the source is checked by the store).

    :param body: the decoded JSON body.
    """
    request = schemas.parse_body(schemas.AudioRequest, body)
    check_prompt(request.prompt, required=False)
    if request.negative_prompt is not None and len(request.negative_prompt) > catalog.PROMPT_MAX:
        raise bad(f"negative_prompt is too long, maximum length is {catalog.PROMPT_MAX} characters")
    check_urls({"callback_url": request.callback_url})
    return CreateSpec(
        kind="add_audio",
        request=echo(body, "add_audio", schemas.AudioRequest),
        prompt=request.prompt,
        callback_url=request.callback_url,
    )
