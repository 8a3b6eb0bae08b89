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

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_luma.testing import catalog
from airflow_provider_luma.testing.errors import ApiError, schema_error

_MISSING: Any = object()


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
    :param sync_timeout: the most to wait in ``sync`` mode, in seconds.
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


def parse_json_body(raw: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    """
    Decode a request body into a JSON object, or raise the 422 FastAPI would.

    :param raw: the raw body.
    :param allow_empty: treat an empty body as ``{}`` (endpoints whose fields are all optional).
    """
    if not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(422, [schema_error(("body",), "missing", "Field required", None)])
    try:
        body = json.loads(raw)
    except ValueError as exc:
        pos = getattr(exc, "pos", 0)
        raise ApiError(422, [schema_error(("body", pos), "json_invalid", "JSON decode error", {})]) from None
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise ApiError(422, [schema_error(("body",), "model_attributes_type", msg, body)])
    return body


def parse_generation_id(value: str) -> str:
    """
    Check a generation id from a URL path (a UUID), or raise 422 as FastAPI does.

    :param value: the path segment.
    """
    try:
        return str(uuid.UUID(value))
    except ValueError:
        msg = "Input should be a valid UUID, invalid character or length"
        raise ApiError(422, [schema_error(("path", "id"), "uuid_parsing", msg, value)]) from None


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


_TYPE_ERRORS = {
    "string": ("string_type", "Input should be a valid string"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "int": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "object": (
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    ),
    "array": ("list_type", "Input should be a valid list"),
}


class _Checker:
    """Collects pydantic-style schema errors while reading a body."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.errors: list[dict[str, Any]] = []

    def get(
        self, loc: tuple[str | int, ...], parent: dict[str, Any], kind: str, required: bool = False
    ) -> Any:
        """Read ``parent[loc[-1]]`` checking its type; None (and absence) mean unset."""
        value = parent.get(str(loc[-1]), _MISSING)
        if value is _MISSING or (value is None and not required):
            if required:
                self.errors.append(schema_error(("body", *loc), "missing", "Field required", parent))
            return None
        if not _type_ok(value, kind):
            error_type, msg = _TYPE_ERRORS[kind]
            self.errors.append(schema_error(("body", *loc), error_type, msg, value))
            return None
        return value

    def literal(
        self,
        loc: tuple[str | int, ...],
        parent: dict[str, Any],
        options: tuple[str, ...],
        required: bool = False,
    ) -> str | None:
        """Read a field that must be one of ``options``."""
        value = parent.get(str(loc[-1]), _MISSING)
        if value is _MISSING or (value is None and not required):
            if required:
                self.errors.append(schema_error(("body", *loc), "missing", "Field required", parent))
            return None
        if value not in options:
            quoted = [f"'{option}'" for option in options]
            expected = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
            self.errors.append(
                schema_error(("body", *loc), "literal_error", f"Input should be {expected}", value)
            )
            return None
        return str(value)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ApiError(422, self.errors)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _check_prompt(prompt: str | None, required: bool) -> None:
    if prompt is None:
        if required:
            raise _bad("Prompt is required")
        return
    if len(prompt) < catalog.PROMPT_MIN:
        raise _bad(f"Prompt is too short, minimum length is {catalog.PROMPT_MIN} characters")
    if len(prompt) > catalog.PROMPT_MAX:
        raise _bad(f"Prompt is too long, maximum length is {catalog.PROMPT_MAX} characters")


def _check_url(name: str, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _bad(f"{name} must be a public http(s) URL; got {value[:200]!r}")


def _echo(body: dict[str, Any], kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
    request = {name: body[name] for name in fields if body.get(name) is not None}
    request["generation_type"] = kind
    return request


def _weighted_refs(check: _Checker, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    refs = check.get((name,), body, "array") or []
    good = []
    for i, ref in enumerate(refs):
        if not _type_ok(ref, "object"):
            check.get((name, i), {str(i): ref}, "object")
            continue
        check.get((name, i, "url"), ref, "string")
        check.get((name, i, "weight"), ref, "number")
        good.append(ref)
    return good


def _check_weighted(name: str, refs: list[dict[str, Any]], single: bool = False) -> None:
    for i, ref in enumerate(refs):
        label = name if single else f"{name}[{i}]"
        _check_url(f"{label}.url", ref.get("url"))
        weight = ref.get("weight")
        if weight is not None and not 0.0 <= weight <= 1.0:
            raise _bad(f"{label}.weight must be between 0 and 1; got {weight}")


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
    check = _Checker(body)
    check.literal(("generation_type",), body, ("image",))
    model = check.literal(("model",), body, catalog.IMAGE_MODELS, required=True)
    prompt = check.get(("prompt",), body, "string")
    aspect = check.literal(("aspect_ratio",), body, catalog.ASPECT_RATIOS)
    fmt = check.literal(("format",), body, catalog.IMAGE_FORMATS)
    callback = check.get(("callback_url",), body, "string")
    sync = check.get(("sync",), body, "bool")
    sync_timeout = check.get(("sync_timeout",), body, "number")
    image_refs = _weighted_refs(check, "image_ref", body)
    style_refs = _weighted_refs(check, "style_ref", body)
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

    _check_prompt(prompt, required=True)
    _check_url("callback_url", callback)
    if len(image_refs) > catalog.MAX_IMAGE_REFS:
        raise _bad(f"image_ref accepts at most {catalog.MAX_IMAGE_REFS} images; got {len(image_refs)}")
    _check_weighted("image_ref", image_refs)
    _check_weighted("style_ref", style_refs)
    if modify is not None:
        _check_weighted("modify_image_ref", [modify], single=True)
    if len(identity_images) > catalog.MAX_CHARACTER_IMAGES:
        raise _bad(
            f"character_ref.identity0.images accepts at most {catalog.MAX_CHARACTER_IMAGES} images; "
            f"got {len(identity_images)}"
        )
    for i, url in enumerate(identity_images):
        _check_url(f"character_ref.identity0.images[{i}]", url)
    if sync_timeout is not None and sync_timeout <= 0:
        raise _bad("sync_timeout must be positive")
    return CreateSpec(
        kind="image",
        request=_echo(body, "image", _IMAGE_FIELDS),
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
    check: _Checker, body: dict[str, Any], kind: str, models: tuple[str, ...]
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
    _check_prompt(values["prompt"], required=False)
    _check_url("callback_url", values["callback_url"])
    _check_url("media.url", values["media_url"])


def validate_image_reframe(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/image/reframe``.

    :param body: the decoded JSON body.
    """
    check = _Checker(body)
    values = _reframe_common(check, body, "reframe_image", catalog.IMAGE_MODELS)
    fmt = check.literal(("format",), body, catalog.IMAGE_FORMATS)
    check.raise_if_errors()
    _check_media(values)
    fields = ("model", "aspect_ratio", "media", "prompt", "callback_url", "format", *_CROP_FIELDS)
    return CreateSpec(
        kind="reframe_image",
        request=_echo(body, "reframe_image", fields),
        model=values["model"],
        prompt=values["prompt"],
        aspect_ratio=values["aspect_ratio"],
        image_format=fmt or "jpg",
        callback_url=values["callback_url"],
    )


def _first_frame(check: _Checker, body: dict[str, Any]) -> str | None:
    first = check.get(("first_frame",), body, "object")
    return check.get(("first_frame", "url"), first, "string", required=True) if first is not None else None


def validate_video_reframe(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/video/reframe``.

    :param body: the decoded JSON body.
    """
    check = _Checker(body)
    values = _reframe_common(check, body, "reframe_video", catalog.RAY2_MODELS)
    first_frame = _first_frame(check, body)
    check.raise_if_errors()
    _check_media(values)
    _check_url("first_frame.url", first_frame)
    fields = ("model", "aspect_ratio", "media", "first_frame", "prompt", "callback_url", *_CROP_FIELDS)
    return CreateSpec(
        kind="reframe_video",
        request=_echo(body, "reframe_video", fields),
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
    check = _Checker(body)
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
    _check_url("first_frame.url", first_frame)
    fields = ("model", "mode", "media", "first_frame", "prompt", "callback_url")
    return CreateSpec(
        kind="modify_video",
        request=_echo(body, "modify_video", fields),
        model=model,
        prompt=prompt,
        callback_url=callback,
    )


def _keyframe(check: _Checker, keyframes: dict[str, Any], name: str) -> dict[str, Any] | None:
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
        raise _bad("No keyframes provided")
    references = []
    for name, frame in frames.items():
        if frame is None:
            continue
        if frame["type"] == "image":
            _check_url(f"keyframes.{name}.url", frame["url"])
        else:
            try:
                references.append((f"keyframes.{name}", str(uuid.UUID(frame["id"]))))
            except ValueError:
                raise _bad(
                    f"keyframes.{name}.id must be a generation id (a UUID); got {frame['id']!r}"
                ) from None
    if loop and frame1 is not None:
        if frame0 is None:
            raise _bad("Loop is not supported for end frame")
        if frame0["type"] == "image" and frame1["type"] == "image":
            raise _bad("Loop is not supported for keyframes")
        raise _bad("loop is not supported when doing interpolations")
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
    Validate ``POST /generations/video`` (also the SDK's ``generations.create``).

    :param body: the decoded JSON body.
    """
    check = _Checker(body)
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
    _check_prompt(prompt, required=frames is None)
    _check_url("callback_url", callback)
    if resolution is not None and resolution not in catalog.RESOLUTIONS:
        raise _bad(f"resolution must be one of {', '.join(catalog.RESOLUTIONS)}; got {resolution!r}")
    if duration is not None and duration not in catalog.DURATIONS:
        raise _bad(f"duration must be one of {', '.join(catalog.DURATIONS)}; got {duration!r}")
    for concept in concepts:
        if concept["key"] not in catalog.CONCEPTS:
            raise _bad(
                f"Unknown concept {concept['key']!r}; GET /generations/concepts/list lists the known ones"
            )
    return CreateSpec(
        kind="video",
        request=_echo(body, "video", _VIDEO_FIELDS),
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
    check = _Checker(body)
    check.literal(("generation_type",), body, ("upscale_video",))
    resolution = check.get(("resolution",), body, "string")
    callback = check.get(("callback_url",), body, "string")
    check.raise_if_errors()
    _check_url("callback_url", callback)
    if resolution is not None and resolution not in catalog.RESOLUTIONS:
        raise _bad(f"resolution must be one of {', '.join(catalog.RESOLUTIONS)}; got {resolution!r}")
    return CreateSpec(
        kind="upscale_video",
        request=_echo(body, "upscale_video", ("resolution", "callback_url")),
        callback_url=callback,
        resolution=resolution or "1080p",
    )


def validate_audio(body: dict[str, Any]) -> CreateSpec:
    """
    Validate ``POST /generations/{id}/audio`` (the source is checked by the store).

    :param body: the decoded JSON body.
    """
    check = _Checker(body)
    check.literal(("generation_type",), body, ("add_audio",))
    prompt = check.get(("prompt",), body, "string")
    negative = check.get(("negative_prompt",), body, "string")
    callback = check.get(("callback_url",), body, "string")
    check.raise_if_errors()
    _check_prompt(prompt, required=False)
    if negative is not None and len(negative) > catalog.PROMPT_MAX:
        raise _bad(f"negative_prompt is too long, maximum length is {catalog.PROMPT_MAX} characters")
    _check_url("callback_url", callback)
    return CreateSpec(
        kind="add_audio",
        request=_echo(body, "add_audio", ("prompt", "negative_prompt", "callback_url")),
        prompt=prompt,
        callback_url=callback,
    )
