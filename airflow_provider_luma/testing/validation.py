"""
Validation of create requests, the way the real API answers them.

Two kinds of error, as a FastAPI service gives them:

* 422 with a pydantic-style list (``[{"type", "loc", "msg", "input"}]``) for what the request
  schema says: missing required fields, wrong JSON types, values outside an enum (``model``,
  ``aspect_ratio``, ``format``, ``mode``, a keyframe's ``type``), invalid JSON;
* 400 with a string, for Luma's own checks: prompt length and presence (messages copied from
  Luma's error documentation), list sizes, weights in [0, 1], http(s) URLs, resolution and
  duration values (the schema types them as free strings), concept keys, keyframes and loop.

Every validator returns a :class:`CreateSpec`. Its ``request`` echoes the known fields as sent,
plus the ``generation_type`` discriminator when the client left it out, so the SDK's ``Request``
union parses into the right variant. Referenced generations (keyframes) are checked by the store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_luma.testing import catalog
from airflow_provider_luma.testing.checks import (
    Checker,
    bad,
    check_prompt,
    check_url,
    check_weighted,
    echo,
    weighted_refs,
)
from airflow_provider_luma.testing.errors import schema_error


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


_IMAGE_FIELDS = (
    "model",
    "aspect_ratio",
    "callback_url",
    "character_ref",
    "format",
    "image_ref",
    "modify_image_ref",
    "prompt",
    "style_ref",
    "sync",
    "sync_timeout",
)


def validate_image(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/image``.

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    check.literal(("generation_type",), body, ("image",))
    model = check.literal(("model",), body, catalog.IMAGE_MODELS, required=True)
    prompt = check.get(("prompt",), body, "string")
    aspect = check.literal(("aspect_ratio",), body, catalog.ASPECT_RATIOS)
    fmt = check.literal(("format",), body, catalog.IMAGE_FORMATS)
    callback = check.get(("callback_url",), body, "string")
    sync = check.get(("sync",), body, "bool")
    sync_timeout = check.get(("sync_timeout",), body, "number")
    image_refs = weighted_refs(check, "image_ref", body)
    style_refs = weighted_refs(check, "style_ref", body)
    modify = check.get(("modify_image_ref",), body, "object")
    if modify is not None:
        check.get(("modify_image_ref", "url"), modify, "string")
        check.get(("modify_image_ref", "weight"), modify, "number")
    character = check.get(("character_ref",), body, "object")
    identity_images: list[Any] = []
    if character is not None:
        identity = check.get(("character_ref", "identity0"), character, "object")
        if identity is not None:
            identity_images = check.get(("character_ref", "identity0", "images"), identity, "array") or []
            for i, url in enumerate(identity_images):
                check.get(("character_ref", "identity0", "images", i), {str(i): url}, "string")
    check.raise_if_errors()

    check_prompt(prompt, required=True)
    check_url("callback_url", callback)
    if len(image_refs) > catalog.MAX_IMAGE_REFS:
        raise bad(f"image_ref accepts at most {catalog.MAX_IMAGE_REFS} images; got {len(image_refs)}")
    check_weighted("image_ref", image_refs)
    check_weighted("style_ref", style_refs)
    if modify is not None:
        check_weighted("modify_image_ref", [modify], single=True)
    if len(identity_images) > catalog.MAX_CHARACTER_IMAGES:
        raise bad(
            f"character_ref.identity0.images accepts at most {catalog.MAX_CHARACTER_IMAGES} images; "
            f"got {len(identity_images)}"
        )
    for i, url in enumerate(identity_images):
        check_url(f"character_ref.identity0.images[{i}]", url)
    return CreateSpec(
        kind="image",
        request=echo(body, "image", _IMAGE_FIELDS),
        model=model,
        prompt=prompt,
        aspect_ratio=aspect or "16:9",
        image_format=fmt or "jpg",
        callback_url=callback,
        sync=bool(sync),
        sync_timeout=sync_timeout,
    )


_CROP_FIELDS = (
    "grid_position_x",
    "grid_position_y",
    "resized_height",
    "resized_width",
    "x_end",
    "x_start",
    "y_end",
    "y_start",
)


def _reframe_common(
    check: Checker, body: dict[str, Any], kind: str, models: tuple[str, ...]
) -> dict[str, Any]:
    check.literal(("generation_type",), body, (kind,), required=True)
    values: dict[str, Any] = {
        "model": check.literal(("model",), body, models, required=True),
        "aspect_ratio": check.literal(("aspect_ratio",), body, catalog.ASPECT_RATIOS, required=True),
        "prompt": check.get(("prompt",), body, "string"),
        "callback_url": check.get(("callback_url",), body, "string"),
    }
    media = check.get(("media",), body, "object", required=True)
    values["media_url"] = (
        check.get(("media", "url"), media, "string", required=True) if media is not None else None
    )
    for name in _CROP_FIELDS:
        check.get((name,), body, "int")
    return values


def _check_media(values: dict[str, Any]) -> None:
    check_prompt(values["prompt"], required=False)
    check_url("callback_url", values["callback_url"])
    check_url("media.url", values["media_url"])


def validate_image_reframe(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/image/reframe``.

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    values = _reframe_common(check, body, "reframe_image", catalog.IMAGE_MODELS)
    fmt = check.literal(("format",), body, catalog.IMAGE_FORMATS)
    check.raise_if_errors()
    _check_media(values)
    fields = ("model", "aspect_ratio", "media", "prompt", "callback_url", "format", *_CROP_FIELDS)
    return CreateSpec(
        kind="reframe_image",
        request=echo(body, "reframe_image", fields),
        model=values["model"],
        prompt=values["prompt"],
        aspect_ratio=values["aspect_ratio"],
        image_format=fmt or "jpg",
        callback_url=values["callback_url"],
    )


def _first_frame(check: Checker, body: dict[str, Any]) -> str | None:
    first = check.get(("first_frame",), body, "object")
    return check.get(("first_frame", "url"), first, "string", required=True) if first is not None else None


def validate_video_reframe(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/video/reframe``.

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    values = _reframe_common(check, body, "reframe_video", catalog.RAY2_MODELS)
    first_frame = _first_frame(check, body)
    check.raise_if_errors()
    _check_media(values)
    check_url("first_frame.url", first_frame)
    fields = ("model", "aspect_ratio", "media", "first_frame", "prompt", "callback_url", *_CROP_FIELDS)
    return CreateSpec(
        kind="reframe_video",
        request=echo(body, "reframe_video", fields),
        model=values["model"],
        prompt=values["prompt"],
        aspect_ratio=values["aspect_ratio"],
        callback_url=values["callback_url"],
    )


def validate_video_modify(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/video/modify``.

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    check.literal(("generation_type",), body, ("modify_video",), required=True)
    model = check.literal(("model",), body, catalog.RAY2_MODELS, required=True)
    check.literal(("mode",), body, catalog.MODIFY_MODES, required=True)
    media = check.get(("media",), body, "object", required=True)
    media_url = check.get(("media", "url"), media, "string", required=True) if media is not None else None
    first_frame = _first_frame(check, body)
    prompt = check.get(("prompt",), body, "string")
    callback = check.get(("callback_url",), body, "string")
    check.raise_if_errors()
    _check_media({"prompt": prompt, "callback_url": callback, "media_url": media_url})
    check_url("first_frame.url", first_frame)
    fields = ("model", "mode", "media", "first_frame", "prompt", "callback_url")
    return CreateSpec(
        kind="modify_video",
        request=echo(body, "modify_video", fields),
        model=model,
        prompt=prompt,
        callback_url=callback,
    )


def _keyframe(check: Checker, keyframes: dict[str, Any], name: str) -> dict[str, Any] | None:
    frame = check.get(("keyframes", name), keyframes, "object")
    if frame is None:
        return None
    kind = frame.get("type")
    if kind == "image":
        check.get(("keyframes", name, "image", "url"), frame, "string", required=True)
    elif kind == "generation":
        check.get(("keyframes", name, "generation", "id"), frame, "string", required=True)
    else:
        msg = (
            f"Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            "'generation', 'image'"
        )
        check.errors.append(schema_error(("body", "keyframes", name), "union_tag_invalid", msg, frame))
        return None
    return frame


def _check_keyframes(frames: dict[str, dict[str, Any] | None], loop: bool) -> list[tuple[str, str]]:
    frame0, frame1 = frames["frame0"], frames["frame1"]
    if frame0 is None and frame1 is None:
        raise bad("No keyframes provided")
    references = []
    for name, frame in frames.items():
        if frame is None:
            continue
        if frame["type"] == "image":
            check_url(f"keyframes.{name}.url", frame["url"])
        else:
            try:
                references.append((f"keyframes.{name}", str(uuid.UUID(frame["id"]))))
            except ValueError:
                raise bad(
                    f"keyframes.{name}.id must be a generation id (a UUID); got {frame['id']!r}"
                ) from None
    if loop and frame1 is not None:
        if frame0 is None:
            raise bad("Loop is not supported for end frame")
        if frame0["type"] == "image" and frame1["type"] == "image":
            raise bad("Loop is not supported for keyframes")
        raise bad("loop is not supported when doing interpolations")
    return references


_VIDEO_FIELDS = (
    "model",
    "prompt",
    "aspect_ratio",
    "loop",
    "keyframes",
    "resolution",
    "duration",
    "concepts",
    "callback_url",
)


def validate_video(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/video`` (the SDK's ``generations.create``) and ``POST /generations``.

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    check.literal(("generation_type",), body, ("video",))
    model = check.literal(("model",), body, catalog.VIDEO_MODELS, required=True)
    prompt = check.get(("prompt",), body, "string")
    aspect = check.literal(("aspect_ratio",), body, catalog.ASPECT_RATIOS)
    loop = check.get(("loop",), body, "bool")
    resolution = check.get(("resolution",), body, "string")
    duration = check.get(("duration",), body, "string")
    callback = check.get(("callback_url",), body, "string")
    concepts = check.get(("concepts",), body, "array") or []
    for i, concept in enumerate(concepts):
        item = check.get(("concepts", i), {str(i): concept}, "object")
        if item is not None:
            check.get(("concepts", i, "key"), item, "string", required=True)
    frames: dict[str, dict[str, Any] | None] | None = None
    if body.get("keyframes") is not None:
        keyframes = check.get(("keyframes",), body, "object")
        if keyframes is not None:
            frames = {name: _keyframe(check, keyframes, name) for name in ("frame0", "frame1")}
    check.raise_if_errors()

    references = _check_keyframes(frames, bool(loop)) if frames is not None else []
    check_prompt(prompt, required=frames is None)
    check_url("callback_url", callback)
    if resolution is not None and resolution not in catalog.RESOLUTIONS:
        raise bad(f"resolution must be one of {', '.join(catalog.RESOLUTIONS)}; got {resolution!r}")
    if duration is not None and duration not in catalog.DURATIONS:
        raise bad(f"duration must be one of {', '.join(catalog.DURATIONS)}; got {duration!r}")
    for concept in concepts:
        if concept["key"] not in catalog.CONCEPTS:
            raise bad(
                f"Unknown concept {concept['key']!r}; GET /generations/concepts/list lists the known ones"
            )
    return CreateSpec(
        kind="video",
        request=echo(body, "video", _VIDEO_FIELDS),
        model=model,
        prompt=prompt,
        aspect_ratio=aspect or "16:9",
        callback_url=callback,
        references=tuple(references),
        resolution=resolution,
        duration=duration,
    )


def validate_upscale(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/{id}/upscale`` (the source is checked by the store).

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    check.literal(("generation_type",), body, ("upscale_video",))
    resolution = check.get(("resolution",), body, "string")
    callback = check.get(("callback_url",), body, "string")
    check.raise_if_errors()
    check_url("callback_url", callback)
    if resolution is not None and resolution not in catalog.RESOLUTIONS:
        raise bad(f"resolution must be one of {', '.join(catalog.RESOLUTIONS)}; got {resolution!r}")
    return CreateSpec(
        kind="upscale_video",
        request=echo(body, "upscale_video", ("resolution", "callback_url")),
        callback_url=callback,
        resolution=resolution or "1080p",
    )


def validate_audio(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/{id}/audio`` (the source is checked by the store).

    :param body: the decoded JSON body.
    """
    check = Checker(body)
    check.literal(("generation_type",), body, ("add_audio",))
    prompt = check.get(("prompt",), body, "string")
    negative = check.get(("negative_prompt",), body, "string")
    callback = check.get(("callback_url",), body, "string")
    check.raise_if_errors()
    check_prompt(prompt, required=False)
    if negative is not None and len(negative) > catalog.PROMPT_MAX:
        raise bad(f"negative_prompt is too long, maximum length is {catalog.PROMPT_MAX} characters")
    check_url("callback_url", callback)
    return CreateSpec(
        kind="add_audio",
        request=echo(body, "add_audio", ("prompt", "negative_prompt", "callback_url")),
        prompt=prompt,
        callback_url=callback,
    )
