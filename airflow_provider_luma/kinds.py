"""
What each generate operator asks Luma for: one declaration per kind of generation.

A kind names the operator attributes its request is built from and builds the validated create
call from their values. A worker builds it from the operator's rendered attributes; a task that
starts on the triggerer (Airflow 3.3+) builds the very same request there, from the values the
triggerer rendered. Nothing here imports Airflow: both sides import it cheaply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.validation import (
    build_audio_request,
    build_image_request,
    build_modify_video_request,
    build_reframe_request,
    build_upscale_request,
    build_video_request,
    check_generation_id,
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

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of path and body: equal for the very same request, whatever the key order."""
        canonical = json.dumps({"path": self.path, "body": self.body}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class GenerationKind:
    """
    One kind of generation: the operator attributes it reads and how they become a create call.

    :param name: the kind's name (an operator's ``kind``).
    :param params: the operator attributes the request is built from.
    :param build: validates those values (by attribute name) and returns the create call.
    """

    name: str
    params: tuple[str, ...]
    build: Callable[[Mapping[str, Any]], GenerationRequest]


def _image(p: Mapping[str, Any]) -> GenerationRequest:
    return GenerationRequest("/generations/image", build_image_request(**p))


def _video(p: Mapping[str, Any]) -> GenerationRequest:
    return GenerationRequest("/generations/video", build_video_request(**p))


def _image_reframe(p: Mapping[str, Any]) -> GenerationRequest:
    return GenerationRequest("/generations/image/reframe", build_reframe_request(kind="image", **p))


def _video_reframe(p: Mapping[str, Any]) -> GenerationRequest:
    return GenerationRequest("/generations/video/reframe", build_reframe_request(kind="video", **p))


def _video_modify(p: Mapping[str, Any]) -> GenerationRequest:
    return GenerationRequest("/generations/video/modify", build_modify_video_request(**p))


def _video_upscale(p: Mapping[str, Any]) -> GenerationRequest:
    path = f"/generations/{check_generation_id(p['generation_id'])}/upscale"
    return GenerationRequest(
        path, build_upscale_request(resolution=p["resolution"], callback_url=p["callback_url"])
    )


def _video_audio(p: Mapping[str, Any]) -> GenerationRequest:
    path = f"/generations/{check_generation_id(p['generation_id'])}/audio"
    body = build_audio_request(
        prompt=p["prompt"], negative_prompt=p["negative_prompt"], callback_url=p["callback_url"]
    )
    return GenerationRequest(path, body)


KINDS: dict[str, GenerationKind] = {
    kind.name: kind
    for kind in (
        GenerationKind(
            "image",
            (
                "prompt",
                "model",
                "aspect_ratio",
                "image_format",
                "image_ref",
                "style_ref",
                "character_ref",
                "modify_image_ref",
                "callback_url",
            ),
            _image,
        ),
        GenerationKind(
            "video",
            (
                "prompt",
                "model",
                "aspect_ratio",
                "resolution",
                "duration",
                "loop",
                "keyframes",
                "concepts",
                "callback_url",
            ),
            _video,
        ),
        GenerationKind(
            "image_reframe",
            ("media_url", "aspect_ratio", "model", "prompt", "image_format", "geometry", "callback_url"),
            _image_reframe,
        ),
        GenerationKind(
            "video_reframe",
            ("media_url", "aspect_ratio", "model", "prompt", "first_frame_url", "geometry", "callback_url"),
            _video_reframe,
        ),
        GenerationKind(
            "video_modify",
            ("media_url", "mode", "model", "prompt", "first_frame_url", "callback_url"),
            _video_modify,
        ),
        GenerationKind("video_upscale", ("generation_id", "resolution", "callback_url"), _video_upscale),
        GenerationKind(
            "video_audio", ("generation_id", "prompt", "negative_prompt", "callback_url"), _video_audio
        ),
    )
}


def build_request(kind: str, params: Mapping[str, Any]) -> GenerationRequest:
    """
    Validate a kind's parameters and return its create call; no API call here.

    :param kind: a key of :data:`KINDS`.
    :param params: the kind's parameters by attribute name (others are ignored).
    :raises LumaValidationError: a parameter is not acceptable (the error names it).
    """
    declared = KINDS[kind]
    return declared.build({name: params.get(name) for name in declared.params})
