"""
Luma's Agents API (``uni-1``, ``uni-1-max``, ``ray-3.2``): which models it serves, and each
operator kind's create call in its shape.

The operators are the same for Luma's two APIs. The model says which API a request is for
(:func:`api_of_model`); a connection's type says which API its key opens (``luma``: the Dream
Machine API, ``luma_agents``: the Agents API). Every create of the Agents API is
``POST /generations`` with the generation's ``type`` in the body. Nothing here imports Airflow.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.redaction import redacted
from airflow_provider_luma.validation import (
    MODIFY_MODES,
    check_bool,
    check_choice,
    check_generation_id,
    check_open_choice,
    check_prompt,
    check_url,
)

if TYPE_CHECKING:
    from collections.abc import Callable

#: The two APIs, as a connection's type names them.
DREAM_MACHINE = "dream-machine"
AGENTS = "agents"

AGENTS_IMAGE_MODELS = ("uni-1", "uni-1-max")
AGENTS_VIDEO_MODELS = ("ray-3.2",)
#: A model whose name starts so is the Agents API's, listed here or not (a newer one passes with a
#: warning, as on the Dream Machine side).
AGENTS_MODEL_PREFIXES = ("uni-", "ray-3.")
AGENTS_ASPECT_RATIOS = ("3:1", "2:1", "21:9", "16:9", "4:3", "3:2", "1:1", "3:4", "2:3", "9:16", "1:2", "1:3")
AGENTS_IMAGE_FORMATS = ("png", "jpeg")
STYLES = ("auto", "manga")
AGENTS_VIDEO_RESOLUTIONS = ("360p", "540p", "720p", "1080p")
AGENTS_VIDEO_DURATIONS = ("5s", "10s")
#: Reference images a create takes at most, by generation type.
MAX_AGENTS_IMAGE_REFS = {"image": 9, "image_edit": 8}
#: The keys of a media reference: exactly one of them says where the media is.
REF_SOURCES = ("url", "data", "generation_id", "file_id")
LAYER_RESOLUTIONS = ("1k", "2k")
#: The longest prompt a layering takes.
LAYERING_PROMPT_MAX_CHARS = 500
#: The key of a file in object storage that a create uploads (:func:`upload_placeholder`).
UPLOAD = "upload"
#: The path of every create.
CREATE_PATH = "/generations"

#: The operators' parameters only the Agents API takes, by kind (a Dream Machine model refuses them).
AGENTS_ONLY_PARAMS: dict[str, tuple[str, ...]] = {
    "image": ("source", "style", "web_search", "user_id"),
    "layering": ("source", "prompt", "model", "resolution", "user_id"),
    "video": ("user_id",),
    "video_reframe": ("user_id",),
    "video_modify": ("user_id",),
}


def api_of_model(model: Any) -> str:
    """
    The API that serves ``model``: :data:`AGENTS` or :data:`DREAM_MACHINE`.

    :param model: a model name (anything else is the Dream Machine API's, whose checks refuse it).
    """
    if isinstance(model, str) and model.startswith(AGENTS_MODEL_PREFIXES):
        return AGENTS
    return DREAM_MACHINE


def check_ref(param: str, value: Any) -> dict[str, Any]:
    """
    Check a media reference: a URL, an earlier generation's id, a file in object storage (an
    ``ObjectStoragePath``, uploaded when the create is sent), or a mapping with exactly one of
    ``url``, ``data`` (base64, with ``media_type``), ``generation_id``, ``file_id``.

    :param param: parameter name used in the error.
    :param value: the reference given.
    """
    if is_storage_path(value):
        return upload_placeholder(param, value)
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            return {"url": check_url(param, value)}
        if "://" in value:  # s3://, file://...: a path, which only an ObjectStoragePath says is one
            raise LumaValidationError(
                param,
                f"{redacted(value)!r} is neither an http(s) URL nor a generation id; give a file in object "
                "storage as an ObjectStoragePath (it is uploaded to Luma)",
            )
        return {"generation_id": check_generation_id(value, param)}
    if not isinstance(value, Mapping):
        raise LumaValidationError(
            param,
            f"must be a URL, a generation id or a mapping with one of {', '.join(REF_SOURCES)}; "
            f"got {value!r}",
        )
    unknown = set(value) - {*REF_SOURCES, "media_type"}
    if unknown:
        raise LumaValidationError(
            param, f"unknown keys {sorted(unknown)}; allowed keys are {', '.join(REF_SOURCES)} and media_type"
        )
    given = [key for key in REF_SOURCES if value.get(key) is not None]
    if len(given) != 1:
        raise LumaValidationError(
            param, f"needs exactly one of {', '.join(REF_SOURCES)}; got {given or 'none'}"
        )
    key = given[0]
    ref: dict[str, Any] = {}
    if key == "url":
        ref["url"] = check_url(f"{param}.url", value["url"])
    elif key == "generation_id":
        ref["generation_id"] = check_generation_id(value["generation_id"], f"{param}.generation_id")
    elif not isinstance(value[key], str) or not value[key]:
        raise LumaValidationError(f"{param}.{key}", f"must be a non-empty string, got {value[key]!r}")
    else:
        ref[key] = value[key]
    media_type = value.get("media_type")
    if key == "data" and not media_type:
        raise LumaValidationError(f"{param}.media_type", "is required with data (e.g. image/png)")
    if media_type is not None:
        if not isinstance(media_type, str) or "/" not in media_type:
            raise LumaValidationError(
                f"{param}.media_type", f"must be a MIME type such as image/png, got {media_type!r}"
            )
        ref["media_type"] = media_type
    return ref


def is_storage_path(value: Any) -> bool:
    """
    Whether ``value`` is a file in object storage (an Airflow ``ObjectStoragePath``), told by its
    shape: this module imports nothing of Airflow.

    :param value: a parameter's value.
    """
    return all(hasattr(value, name) for name in ("protocol", "open", "stat", "read_bytes"))


def upload_placeholder(param: str, path: Any) -> dict[str, Any]:
    """
    What a file in object storage stands as in a request until its create is sent: ``{"upload":
    <path>, "media_type": ...}``. The create uploads it then, once per try, and sends its file id
    (``{"file_id": ..., "media_type": ...}``); the request a record keeps is the same in every try.

    :param param: parameter name used in the error.
    :param path: an ``ObjectStoragePath``.
    """
    text = str(path)
    media_type = mimetypes.guess_type(text)[0]
    if media_type is None or not media_type.startswith(("image/", "video/")):
        raise LumaValidationError(
            param, f"{redacted(text)!r} is not an image or video by its name (e.g. .png, .jpg, .mp4)"
        )
    return {UPLOAD: text, "media_type": media_type}


def _check_refs(param: str, value: Any, max_items: int) -> list[dict[str, Any]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise LumaValidationError(
            param, f"must be a non-empty list of up to {max_items} references, got {value!r}"
        )
    if len(value) > max_items:
        raise LumaValidationError(param, f"takes at most {max_items} references here, got {len(value)}")
    return [check_ref(f"{param}[{index}]", item) for index, item in enumerate(value)]


def _check_user_id(param: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise LumaValidationError(
            param, f"must be an opaque end-user tag of 1 to 256 characters, got {value!r}"
        )
    return value


class _Body:
    """A create body being built from the operator's parameters: each set only when given."""

    def __init__(self, params: Mapping[str, Any], generation_type: str) -> None:
        self.params = params
        self.body: dict[str, Any] = {"type": generation_type}
        self.video: dict[str, Any] = {}

    def put(
        self, name: str, check: Callable[[str, Any], Any], field: str | None = None, *, required: bool = False
    ) -> None:
        value = self.params.get(name)
        if value is None and not required:
            return
        self.body[field or name] = check(name, value)

    def put_video(self, name: str, check: Callable[[str, Any], Any], field: str | None = None) -> None:
        value = self.params.get(name)
        if value is not None:
            self.video[field or name] = check(name, value)

    def done(self) -> dict[str, Any]:
        if self.video:
            self.body["video"] = self.video
        return self.body


def _required_prompt(param: str, value: Any) -> str:
    if value is None:
        raise LumaValidationError(param, "is required by Luma's Agents API (3 to 5,000 characters)")
    return check_prompt(param, value)


def _image(params: Mapping[str, Any]) -> dict[str, Any]:
    generation_type = "image_edit" if params.get("source") is not None else "image"
    body = _Body(params, generation_type)
    body.put("model", partial(check_open_choice, listed=AGENTS_IMAGE_MODELS, elsewhere=AGENTS_VIDEO_MODELS))
    body.put("prompt", _required_prompt, required=True)
    body.put("source", check_ref)
    body.put("aspect_ratio", partial(check_choice, allowed=AGENTS_ASPECT_RATIOS))
    body.put("format", partial(check_choice, allowed=AGENTS_IMAGE_FORMATS), "output_format")
    body.put("style", partial(check_choice, allowed=STYLES))
    body.put("image_ref", partial(_check_refs, max_items=MAX_AGENTS_IMAGE_REFS[generation_type]))
    body.put("web_search", check_bool)
    body.put("user_id", _check_user_id)
    return body.done()


def _frames(param: str, value: Any) -> dict[str, Any]:
    """The Dream Machine's ``{"frame0": ..., "frame1": ...}`` as Ray 3.2's start and end frames."""
    if not isinstance(value, Mapping) or not value or set(value) - {"frame0", "frame1"}:
        raise LumaValidationError(param, f"must be a mapping with frame0 and/or frame1, got {value!r}")
    frames: dict[str, Any] = {}
    for key, field in (("frame0", "start_frame"), ("frame1", "end_frame")):
        frame = value.get(key)
        if isinstance(frame, Mapping) and frame.get("type") in (
            "image",
            "generation",
        ):  # the Dream Machine's shape
            frame = frame.get("url") if frame["type"] == "image" else {"generation_id": frame.get("id")}
        if frame is not None:
            frames[field] = check_ref(f"{param}.{key}", frame)
    return frames


def _video(params: Mapping[str, Any]) -> dict[str, Any]:
    body = _Body(params, "video")
    body.put("model", partial(check_open_choice, listed=AGENTS_VIDEO_MODELS, elsewhere=AGENTS_IMAGE_MODELS))
    body.put("prompt", _required_prompt, required=True)
    body.put("aspect_ratio", partial(check_choice, allowed=AGENTS_ASPECT_RATIOS))
    body.put_video("resolution", partial(check_open_choice, listed=AGENTS_VIDEO_RESOLUTIONS))
    body.put_video("duration", partial(check_open_choice, listed=AGENTS_VIDEO_DURATIONS))
    body.put_video("loop", check_bool)
    if params.get("keyframes") is not None:
        body.video.update(_frames("keyframes", params["keyframes"]))
    body.put("user_id", _check_user_id)
    return body.done()


def _video_source(param: str, value: Any) -> dict[str, Any]:
    """A source video: by URL (sent with its media type, which Luma needs to ingest a video) or id."""
    ref = check_ref(param, value)
    if "url" in ref and "media_type" not in ref:
        ref["media_type"] = "video/mp4"
    return ref


def _video_reframe(params: Mapping[str, Any]) -> dict[str, Any]:
    body = _Body(params, "video_reframe")
    body.put("model", partial(check_open_choice, listed=AGENTS_VIDEO_MODELS, elsewhere=AGENTS_IMAGE_MODELS))
    body.put("prompt", _required_prompt, required=True)
    body.put("media_url", _video_source, "source", required=True)
    body.put("aspect_ratio", partial(check_choice, allowed=AGENTS_ASPECT_RATIOS), required=True)
    body.put("user_id", _check_user_id)
    return body.done()


def _video_modify(params: Mapping[str, Any]) -> dict[str, Any]:
    body = _Body(params, "video_edit")
    body.put("model", partial(check_open_choice, listed=AGENTS_VIDEO_MODELS, elsewhere=AGENTS_IMAGE_MODELS))
    body.put("prompt", _required_prompt, required=True)
    body.put("media_url", _video_source, "source", required=True)
    if params.get("mode") is not None:
        body.video["edit"] = {"strength": check_choice("mode", params["mode"], MODIFY_MODES)}
    body.put("user_id", _check_user_id)
    return body.done()


def _layering_prompt(param: str, value: Any) -> str:
    prompt = _required_prompt(param, value)
    if len(prompt) > LAYERING_PROMPT_MAX_CHARS:
        raise LumaValidationError(
            param, f"takes at most {LAYERING_PROMPT_MAX_CHARS} characters for a layering, got {len(prompt)}"
        )
    return prompt


def _layering(params: Mapping[str, Any]) -> dict[str, Any]:
    body = _Body(params, "layering")
    body.put("model", partial(check_open_choice, listed=("uni-1",), elsewhere=AGENTS_VIDEO_MODELS))
    body.put("prompt", _layering_prompt, required=True)
    body.put("source", check_ref, required=True)
    body.put("resolution", partial(check_choice, allowed=LAYER_RESOLUTIONS), "layering")
    if "layering" in body.body:
        body.body["layering"] = {"resolution": body.body["layering"]}
    body.put("user_id", _check_user_id)
    return body.done()


#: Each kind's body, and the operator parameters it takes (others given are refused).
_BUILDERS: dict[str, tuple[Callable[[Mapping[str, Any]], dict[str, Any]], tuple[str, ...]]] = {
    "image": (
        _image,
        ("prompt", "model", "aspect_ratio", "format", "image_ref", *AGENTS_ONLY_PARAMS["image"]),
    ),
    "video": (
        _video,
        ("prompt", "model", "aspect_ratio", "resolution", "duration", "loop", "keyframes", "user_id"),
    ),
    "video_reframe": (_video_reframe, ("prompt", "model", "media_url", "aspect_ratio", "user_id")),
    "video_modify": (_video_modify, ("prompt", "model", "media_url", "mode", "user_id")),
    "layering": (_layering, AGENTS_ONLY_PARAMS["layering"]),
}


def build_agents_body(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """
    Check an operator kind's parameters for the Agents API and return the create's body.

    :param kind: the operator's kind (``image``, ``video``, ``video_reframe``, ``video_modify``).
    :param params: the parameters by name; those left None are not sent.
    :raises LumaValidationError: the kind has no Agents API counterpart, a parameter given is one
        the Agents API does not take, or a value is not acceptable (the error names it).
    """
    model = params.get("model")
    if kind not in _BUILDERS:
        raise LumaValidationError(
            "model",
            f"{model!r} is a model of Luma's Agents API, which has no {kind.replace('_', ' ')}; use a "
            "Dream Machine model here",
        )
    build, takes = _BUILDERS[kind]
    foreign = sorted(name for name, value in params.items() if value is not None and name not in takes)
    if foreign:
        raise LumaValidationError(
            foreign[0],
            f"is not a parameter of Luma's Agents API (model {model!r}); with it this task takes "
            f"{', '.join(takes)}",
        )
    return build(params)


def refuse_agents_only(kind: str, params: Mapping[str, Any]) -> None:
    """
    Refuse a parameter only the Agents API takes, given with a Dream Machine model.

    :param kind: the operator's kind.
    :param params: the parameters by name.
    """
    for name in AGENTS_ONLY_PARAMS.get(kind, ()):
        if params.get(name) is not None:
            raise LumaValidationError(
                name,
                f"is a parameter of Luma's Agents API; model {params.get('model')!r} is a Dream Machine "
                f"model (the Agents API's are {', '.join(AGENTS_IMAGE_MODELS + AGENTS_VIDEO_MODELS)})",
            )
