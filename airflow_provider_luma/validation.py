"""
Checks of the values a user passes to the Dream Machine API.

Every check takes the parameter's name and its value, returns the value in the API's own shape
(JSON-ready), and raises an error that names the parameter and what is allowed. Which parameter
gets which check, and where its value goes in a request, is declared once per kind of generation
in :mod:`airflow_provider_luma.kinds`.

Models, resolutions and durations are open lists: Luma adds to them with new models, so a value
this provider does not list goes to Luma as it is, with a warning, and Luma's 400 for a value it
does not know either fails the task naming the parameter (see ``hooks/_http.py``). A value the
provider knows to be for another endpoint (a video model for an image) is still refused. The
other enumerations (aspect ratios, formats, modify modes, keyframe types) stay closed: they are the
shape of the API rather than the catalogue of models.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.redaction import may_carry_credentials, redacted

IMAGE_MODELS = ("photon-1", "photon-flash-1")
# ray-1-6 is not listed: Luma dropped it from its SDK (lumaai 1.19); given, it passes with a warning.
VIDEO_MODELS = ("ray-2", "ray-flash-2")
ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9", "9:21", "21:9")
IMAGE_FORMATS = ("jpg", "png")
PROMPT_MIN_CHARS = 3
PROMPT_MAX_CHARS = 5000
MAX_IMAGE_REFS = 4
MAX_CHARACTER_IMAGES = 4

log = logging.getLogger(__name__)


def _fail(param: str, message: str) -> LumaValidationError:
    return LumaValidationError(param, message)


def check_choice(param: str, value: Any, allowed: Sequence[str]) -> str:
    """
    Check that ``value`` is one of ``allowed``.

    :param param: parameter name used in the error.
    :param value: the value given.
    :param allowed: the accepted values.
    """
    if not isinstance(value, str) or value not in allowed:
        raise _fail(param, f"got {value!r}; allowed values are {', '.join(allowed)}")
    return value


def check_open_choice(param: str, value: Any, listed: Sequence[str], elsewhere: Sequence[str] = ()) -> str:
    """
    Check a value of a list Luma grows (models, resolutions, durations): a value not listed is
    sent as it is, with a warning, so that a new one needs no provider release.

    :param param: parameter name used in the error and the warning.
    :param value: the value given.
    :param listed: the values this provider knows for this endpoint.
    :param elsewhere: values this provider knows belong to other endpoints: refused.
    """
    if not isinstance(value, str) or not value.strip():
        raise _fail(param, f"must be a non-empty string such as {', '.join(listed)}, got {value!r}")
    if value in listed:
        return value
    if value in elsewhere:
        raise _fail(
            param, f"{value!r} is not for this endpoint; it takes {', '.join(listed)} (or a newer one)"
        )
    log.warning(
        "%s=%r is not one this provider lists (%s): sent to Luma as it is; if Luma does not know it "
        "either, the task fails on Luma's 400 without retrying",
        param,
        value,
        ", ".join(listed),
    )
    return value


def check_prompt(param: str, value: Any) -> str:
    """
    Check a prompt: a string of 3 to 5,000 characters (surrounding blanks not counted).

    :param param: parameter name used in the error.
    :param value: the prompt given.
    """
    if not isinstance(value, str):
        raise _fail(param, f"must be a string, got {type(value).__name__}")
    length = len(value.strip())
    if not PROMPT_MIN_CHARS <= length <= PROMPT_MAX_CHARS:
        raise _fail(
            param,
            f"must be {PROMPT_MIN_CHARS} to {PROMPT_MAX_CHARS:,} characters long, got {length:,}",
        )
    return value


#: ASCII controls and the space: a URL with any is refused (a browser or server would drop them).
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def check_url(param: str, value: Any) -> str:
    """
    Check a URL: Luma fetches references and calls callbacks over public http(s) URLs only.

    An ``http://`` or ``https://`` URL with a host; no credentials (``user:password@``: Luma would
    see them, and so would every log and lineage event of the request), no spaces or control
    characters. The error never shows the credentials.

    :param param: parameter name used in the error.
    :param value: the URL given.
    """
    if not isinstance(value, str):
        raise _fail(param, f"must be an http(s) URL string, got {type(value).__name__}")
    shown = redacted(value)
    if _CONTROL_OR_SPACE.search(value):
        raise _fail(param, f"must be an http(s) URL without spaces or control characters, got {shown!r}")
    if may_carry_credentials(value):
        raise _fail(
            param,
            f"must not carry credentials (user:password@), got {shown!r}; use a presigned URL instead",
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:  # its message may quote the URL
        raise _fail(param, f"is not a valid URL (its host or port does not parse): {shown!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _fail(param, f"must be an http:// or https:// URL with a host, got {shown!r}")
    return value


def check_url_object(param: str, value: Any) -> dict[str, str]:
    """
    Check a URL (see :func:`check_url`) that the API takes as ``{"url": ...}`` (media, first frame).

    :param param: parameter name used in the error.
    :param value: the URL given.
    """
    return {"url": check_url(param, value)}


def check_bool(param: str, value: Any) -> bool:
    """
    Check a flag: True or False (not a truthy string a template rendered).

    :param param: parameter name used in the error.
    :param value: the flag given.
    """
    if not isinstance(value, bool):
        raise _fail(param, f"must be True or False, got {value!r}")
    return value


def check_weight(param: str, value: Any) -> float:
    """
    Check a reference weight: a number from 0 to 1.

    :param param: parameter name used in the error.
    :param value: the weight given.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise _fail(param, f"must be a number from 0 to 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise _fail(param, f"must be from 0 to 1, got {value!r}")
    return float(value)


#: Luma's ids: a UUID in its canonical 8-4-4-4-12 hex form (any case).
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def check_generation_id(value: Any, param: str = "generation_id") -> str:
    """
    Check a generation id and return it in canonical form (lower case): Luma's ids are UUIDs.

    Only the 8-4-4-4-12 hex form is taken. Other spellings Python's ``uuid`` would read
    (``urn:uuid:...``, ``{...}``, 32 bare hex digits, surrounding blanks or a trailing newline) are
    refused rather than rewritten: Luma never hands them out, so they come from a template or a
    file that went wrong, and the id ends up in request paths, XCom and the ids siblings compare.

    :param value: the id given.
    :param param: parameter name used in the error.
    """
    if not isinstance(value, str):
        raise _fail(param, f"must be a generation id (UUID string), got {type(value).__name__}")
    if not _CANONICAL_UUID.fullmatch(value):
        raise _fail(
            param,
            "must be a generation id, a UUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301, "
            f"got {value[:80]!r}",
        )
    return value.lower()


def check_weighted_ref(param: str, value: Any) -> dict[str, Any]:
    """
    Check a reference image: a URL, or ``{"url": ..., "weight": 0..1}``; returns the mapping form.

    :param param: parameter name used in the error.
    :param value: the reference given.
    """
    if isinstance(value, str):
        return {"url": check_url(f"{param}.url", value)}
    if not isinstance(value, Mapping):
        raise _fail(param, f"must be a URL or a mapping {{'url': ..., 'weight': 0..1}}, got {value!r}")
    unknown = set(value) - {"url", "weight"}
    if unknown:
        raise _fail(param, f"unknown keys {sorted(unknown)}; allowed keys are 'url' and 'weight'")
    if "url" not in value:
        raise _fail(param, "needs a 'url'")
    ref: dict[str, Any] = {"url": check_url(f"{param}.url", value["url"])}
    if value.get("weight") is not None:
        ref["weight"] = check_weight(f"{param}.weight", value["weight"])
    return ref


def check_weighted_refs(param: str, value: Any, max_items: int | None = None) -> list[dict[str, Any]]:
    """
    Check a list of reference images (see :func:`check_weighted_ref`).

    :param param: parameter name used in the error.
    :param value: the references given.
    :param max_items: how many the API takes, if it limits them.
    """
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise _fail(param, f"must be a list of references {{'url': ..., 'weight': 0..1}}, got {value!r}")
    if max_items is not None and len(value) > max_items:
        raise _fail(param, f"at most {max_items} references are allowed, got {len(value)}")
    return [check_weighted_ref(f"{param}[{index}]", item) for index, item in enumerate(value)]


def check_character_ref(param: str, value: Any) -> dict[str, Any]:
    """
    Check a character reference: ``{"identity0": {"images": [up to 4 URLs]}}``, or the list of URLs.

    :param param: parameter name used in the error.
    :param value: the reference given.
    """
    if isinstance(value, Sequence) and not isinstance(value, (str, Mapping)):
        # Shorthand: a plain list of image URLs is one identity.
        value = {"identity0": {"images": list(value)}}
    if not isinstance(value, Mapping):
        raise _fail(
            param, f"must be {{'identity0': {{'images': [url, ...]}}}} or a list of URLs, got {value!r}"
        )
    unknown = set(value) - {"identity0"}
    if unknown:
        raise _fail(param, f"unknown keys {sorted(unknown)}; the API takes one identity, 'identity0'")
    identity = value.get("identity0")
    if not isinstance(identity, Mapping) or not isinstance(identity.get("images"), Sequence):
        raise _fail(f"{param}.identity0", "must be {'images': [url, ...]}")
    images = identity["images"]
    if isinstance(images, str) or not 1 <= len(images) <= MAX_CHARACTER_IMAGES:
        raise _fail(
            f"{param}.identity0.images",
            f"must be a list of 1 to {MAX_CHARACTER_IMAGES} image URLs, got {images!r}",
        )
    urls = [check_url(f"{param}.identity0.images[{i}]", url) for i, url in enumerate(images)]
    return {"identity0": {"images": urls}}


def check_positive_number(param: str, value: Any) -> float:
    """
    Check a duration or interval, in seconds or as a ``timedelta``; return it in seconds (greater than 0).

    :param param: parameter name used in the error.
    :param value: the value given.
    """
    value = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise _fail(param, f"must be a number of seconds greater than 0, got {value!r}")
    return float(value)


def check_max_cost(param: str, value: Any) -> float | None:
    """
    Check a spending cap in US dollars: None (no cap) or a finite number of at least 0.

    :param param: parameter name used in the error.
    :param value: the value given.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise _fail(param, f"must be None or US dollars (a number of at least 0), got {value!r}")
    return float(value)


def check_positive_int(param: str, value: Any) -> int:
    """
    Check a count (of bytes, say): a whole number greater than 0.

    :param param: parameter name used in the error.
    :param value: the value given.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(param, f"must be a whole number greater than 0, got {value!r}")
    return value


VIDEO_RESOLUTIONS = ("540p", "720p", "1080p", "4k")
VIDEO_DURATIONS = ("5s", "9s")
KEYFRAME_SLOTS = ("frame0", "frame1")


def _keyframe(param: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        # Shorthand: a generation id chains on an earlier generation, a URL starts from an image.
        if value.lower().startswith(("http://", "https://")):
            return {"type": "image", "url": check_url(param, value)}
        return {"type": "generation", "id": check_generation_id(value, param)}
    if not isinstance(value, Mapping):
        raise _fail(
            param,
            f"must be {{'type': 'image', 'url': ...}} or {{'type': 'generation', 'id': ...}}, got {value!r}",
        )
    kind = value.get("type")
    if kind == "image":
        if set(value) != {"type", "url"}:
            raise _fail(param, "an image keyframe has exactly the keys 'type' and 'url'")
        return {"type": "image", "url": check_url(f"{param}.url", value["url"])}
    if kind == "generation":
        if set(value) != {"type", "id"}:
            raise _fail(param, "a generation keyframe has exactly the keys 'type' and 'id'")
        return {"type": "generation", "id": check_generation_id(value["id"], f"{param}.id")}
    raise _fail(f"{param}.type", f"got {kind!r}; allowed values are image, generation")


def check_keyframes(param: str, value: Any) -> dict[str, Any]:
    """
    Check video keyframes: ``{"frame0": ..., "frame1": ...}``, each an image or a generation, in
    the API's form or as the URL or generation id alone.

    :param param: parameter name used in the error.
    :param value: the keyframes given.
    """
    if not isinstance(value, Mapping) or not value:
        raise _fail(param, f"must be a mapping with 'frame0' and/or 'frame1', got {value!r}")
    unknown = set(value) - set(KEYFRAME_SLOTS)
    if unknown:
        raise _fail(param, f"unknown keys {sorted(unknown)}; allowed keys are frame0, frame1")
    return {slot: _keyframe(f"{param}.{slot}", frame) for slot, frame in value.items()}


def check_concepts(param: str, value: Any) -> list[dict[str, str]]:
    """
    Check concepts: a list of concept keys, each a string or ``{"key": ...}``.

    :param param: parameter name used in the error.
    :param value: the concepts given.
    """
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise _fail(param, f"must be a list of concept keys or {{'key': ...}}, got {value!r}")
    concepts = []
    for index, item in enumerate(value):
        key = item.get("key") if isinstance(item, Mapping) else item
        if not isinstance(key, str) or not key:
            raise _fail(
                f"{param}[{index}]", f"must be a concept key (string) or {{'key': ...}}, got {item!r}"
            )
        concepts.append({"key": key})
    return concepts


MODIFY_MODES = tuple(
    f"{style}_{strength}" for style in ("adhere", "flex", "reimagine") for strength in (1, 2, 3)
)
REFRAME_GEOMETRY_KEYS = (
    "grid_position_x",
    "grid_position_y",
    "resized_width",
    "resized_height",
    "x_start",
    "x_end",
    "y_start",
    "y_end",
)


def check_geometry(param: str, value: Any) -> dict[str, int]:
    """
    Check a reframe geometry: some of ``REFRAME_GEOMETRY_KEYS``, each a whole number of pixels.

    :param param: parameter name used in the error.
    :param value: the geometry given.
    """
    if not isinstance(value, Mapping):
        raise _fail(
            param, f"must be a mapping of {', '.join(REFRAME_GEOMETRY_KEYS)} to pixels, got {value!r}"
        )
    unknown = set(value) - set(REFRAME_GEOMETRY_KEYS)
    if unknown:
        raise _fail(
            param, f"unknown keys {sorted(unknown)}; allowed keys are {', '.join(REFRAME_GEOMETRY_KEYS)}"
        )
    for key, pixels in value.items():
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
            raise _fail(f"{param}.{key}", f"must be a whole number of pixels >= 0, got {pixels!r}")
    return dict(value)
