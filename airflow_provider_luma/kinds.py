"""
What each generate operator asks Luma for: one declaration per kind of generation.

A kind declares its parameters once: the operator argument (and attribute) of each, whether the
operator templates it, how it is checked and where its value goes in the create call. The
operators take their template fields from here, the request body is built from here, and a task
that starts on the triggerer (Airflow 3.3+) builds the very same request there, from the values
the triggerer rendered. Nothing here imports Airflow: both sides import it cheaply.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_luma.agents import (
    AGENTS,
    AGENTS_ONLY_PARAMS,
    api_of_model,
    build_agents_body,
    refuse_agents_only,
)
from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.validation import (
    ASPECT_RATIOS,
    IMAGE_FORMATS,
    IMAGE_MODELS,
    MAX_IMAGE_REFS,
    MODIFY_MODES,
    VIDEO_DURATIONS,
    VIDEO_MODELS,
    VIDEO_RESOLUTIONS,
    check_bool,
    check_character_ref,
    check_choice,
    check_concepts,
    check_generation_id,
    check_geometry,
    check_keyframes,
    check_open_choice,
    check_prompt,
    check_url,
    check_url_object,
    check_weighted_ref,
    check_weighted_refs,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True)
class GenerationRequest:
    """
    One create call, rendered and validated.

    :param path: the create endpoint, relative to the API's base URL.
    :param body: the JSON body, in the API's shape.
    """

    path: str
    body: dict[str, Any]

    @property
    def api(self) -> str:
        """The API this request is for, by its model (:func:`~airflow_provider_luma.agents.api_of_model`)."""
        return api_of_model(self.body.get("model"))

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of path and body: equal for the very same request, whatever the key order."""
        canonical = json.dumps({"path": self.path, "body": self.body}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Into(enum.Enum):
    """Where a parameter's checked value goes in the create call."""

    BODY = "body"  # a field of the JSON body
    PATH = "path"  # a segment of the endpoint's path (the generation to upscale, say)
    SPREAD = "spread"  # its keys go into the body itself (a reframe's geometry)


class Param(NamedTuple):
    """
    One parameter of a kind of generation.

    ``Param`` and :class:`GenerationKind` are named tuples, not frozen dataclasses: building a frozen
    dataclass costs about 0.3 ms at import, and the operators module that imports this one is
    imported at every parse of a DAG file (the "Import cost of the operators module" row of make
    bench).

    :param name: the operator's argument and attribute, and the API's field unless ``field`` says
        otherwise.
    :param check: ``check(name, value)`` returns the value in the API's shape, or raises an error
        naming the parameter.
    :param field: the API's field, when it is not ``name``.
    :param required: the value is checked even when it is None (the check refuses it); an optional
        parameter left None is not sent, so that Luma's default applies.
    :param templated: the operator renders it with Jinja.
    :param into: where the checked value goes.
    """

    name: str
    check: Callable[[str, Any], Any]
    field: str | None = None
    required: bool = False
    templated: bool = True
    into: Into = Into.BODY


class GenerationKind(NamedTuple):
    """
    One kind of generation: its endpoint, its ``generation_type`` and its parameters.

    :param name: the kind's name (an operator's ``kind``).
    :param path: the create endpoint; ``{name}`` stands for a parameter that goes into the path.
    :param generation_type: the body's ``generation_type``.
    :param params: the parameters, in the order they are checked.
    """

    name: str
    path: str
    generation_type: str
    params: tuple[Param, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters' names: the operator's arguments and attributes."""
        return tuple(param.name for param in self.params)

    @property
    def template_fields(self) -> tuple[str, ...]:
        """The parameters the operator renders with Jinja."""
        return tuple(param.name for param in self.params if param.templated)

    def build(self, values: Mapping[str, Any]) -> GenerationRequest:
        """
        Check the parameters and return the create call; no API call here.

        :param values: the parameters by name (others are ignored; a missing one is None).
        :raises LumaValidationError: a parameter is not acceptable (the error names it).
        """
        body: dict[str, Any] = {"generation_type": self.generation_type}
        in_path: dict[str, Any] = {}
        for param in self.params:
            value = values.get(param.name)
            if value is None and not param.required:
                continue
            checked = param.check(param.name, value)
            if param.into is Into.PATH:
                in_path[param.name] = checked
            elif param.into is Into.SPREAD:
                body.update(checked)
            else:
                body[param.field or param.name] = checked
        return GenerationRequest(self.path.format(**in_path), body)


def _generation_id(param: str, value: Any) -> str:
    return check_generation_id(value, param)


def _model(listed: tuple[str, ...], elsewhere: tuple[str, ...]) -> Param:
    return Param("model", partial(check_open_choice, listed=listed, elsewhere=elsewhere), required=True)


# The parameters several kinds share.
PROMPT = Param("prompt", check_prompt, required=True)
OPTIONAL_PROMPT = Param("prompt", check_prompt)
IMAGE_MODEL = _model(IMAGE_MODELS, VIDEO_MODELS)
EDIT_VIDEO_MODEL = _model(VIDEO_MODELS, IMAGE_MODELS)
ASPECT_RATIO = Param("aspect_ratio", partial(check_choice, allowed=ASPECT_RATIOS))
NEW_ASPECT_RATIO = Param("aspect_ratio", partial(check_choice, allowed=ASPECT_RATIOS), required=True)
FORMAT = Param("format", partial(check_choice, allowed=IMAGE_FORMATS))
RESOLUTION = Param("resolution", partial(check_open_choice, listed=VIDEO_RESOLUTIONS))
MEDIA_URL = Param("media_url", check_url_object, field="media", required=True)
FIRST_FRAME_URL = Param("first_frame_url", check_url_object, field="first_frame")
GEOMETRY = Param("geometry", check_geometry, templated=False, into=Into.SPREAD)
SOURCE_GENERATION = Param("generation_id", _generation_id, required=True, into=Into.PATH)
CALLBACK_URL = Param("callback_url", check_url)

KINDS: dict[str, GenerationKind] = {
    kind.name: kind
    for kind in (
        GenerationKind(
            "image",
            "/generations/image",
            "image",
            (
                PROMPT,
                IMAGE_MODEL,
                ASPECT_RATIO,
                FORMAT,
                Param("image_ref", partial(check_weighted_refs, max_items=MAX_IMAGE_REFS)),
                Param("style_ref", check_weighted_refs),
                Param("character_ref", check_character_ref),
                Param("modify_image_ref", check_weighted_ref),
                CALLBACK_URL,
            ),
        ),
        GenerationKind(
            "video",
            "/generations/video",
            "video",
            (
                PROMPT,
                _model(VIDEO_MODELS, IMAGE_MODELS),
                ASPECT_RATIO,
                RESOLUTION,
                Param("duration", partial(check_open_choice, listed=VIDEO_DURATIONS)),
                Param("loop", check_bool, templated=False),
                Param("keyframes", check_keyframes),
                Param("concepts", check_concepts),
                CALLBACK_URL,
            ),
        ),
        GenerationKind(
            "image_reframe",
            "/generations/image/reframe",
            "reframe_image",
            (MEDIA_URL, NEW_ASPECT_RATIO, IMAGE_MODEL, OPTIONAL_PROMPT, FORMAT, GEOMETRY, CALLBACK_URL),
        ),
        GenerationKind(
            "video_reframe",
            "/generations/video/reframe",
            "reframe_video",
            (
                MEDIA_URL,
                NEW_ASPECT_RATIO,
                EDIT_VIDEO_MODEL,
                OPTIONAL_PROMPT,
                FIRST_FRAME_URL,
                GEOMETRY,
                CALLBACK_URL,
            ),
        ),
        GenerationKind(
            "video_modify",
            "/generations/video/modify",
            "modify_video",
            (
                MEDIA_URL,
                Param("mode", partial(check_choice, allowed=MODIFY_MODES), required=True),
                EDIT_VIDEO_MODEL,
                OPTIONAL_PROMPT,
                FIRST_FRAME_URL,
                CALLBACK_URL,
            ),
        ),
        GenerationKind(
            "video_upscale",
            "/generations/{generation_id}/upscale",
            "upscale_video",
            (SOURCE_GENERATION, Param("resolution", RESOLUTION.check, required=True), CALLBACK_URL),
        ),
        GenerationKind(
            "video_audio",
            "/generations/{generation_id}/audio",
            "add_audio",
            (SOURCE_GENERATION, PROMPT, Param("negative_prompt", check_prompt), CALLBACK_URL),
        ),
    )
}


def build_request(kind: str, params: Mapping[str, Any]) -> GenerationRequest:
    """
    Validate a kind's parameters and return its create call, for the API its model belongs to
    (the Agents API's ``uni-1``, ``uni-1-max``, ``ray-3.2``, else the Dream Machine API); no API call
    here.

    :param kind: a key of :data:`KINDS`, or a kind only the Agents API has (``layering``).
    :param params: the kind's parameters by name (others are ignored).
    :raises LumaValidationError: a parameter is not acceptable (the error names it).
    """
    if api_of_model(params.get("model")) == AGENTS:
        taken = operator_params(kind)
        return GenerationRequest("/generations", build_agents_body(kind, {n: params.get(n) for n in taken}))
    refuse_agents_only(kind, params)
    if kind not in KINDS:  # a kind only the Agents API has
        raise LumaValidationError(
            "model", f"{params.get('model')!r} is not a model of Luma's Agents API, the only one with {kind}"
        )
    return KINDS[kind].build(params)


def operator_params(kind: str) -> tuple[str, ...]:
    """
    The request parameters of a kind's operator: the Dream Machine API's and the Agents API's.

    :param kind: a key of :data:`KINDS`.
    """
    dream_machine = KINDS[kind].names if kind in KINDS else ()
    return dream_machine + AGENTS_ONLY_PARAMS.get(kind, ())


def operator_template_fields(kind: str) -> tuple[str, ...]:
    """
    The request parameters a kind's operator renders with Jinja (flags are not templated).

    :param kind: a key of :data:`KINDS`.
    """
    agents_only = tuple(name for name in AGENTS_ONLY_PARAMS.get(kind, ()) if name != "web_search")
    return (KINDS[kind].template_fields if kind in KINDS else ()) + agents_only
