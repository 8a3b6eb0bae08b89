"""
The fixed vocabulary of the emulated Agents API: types, models, enums, failure codes, limits and prices.

Values follow Luma's ``luma-agents`` SDK (0.5.0) types and the Agents API guides
(https://docs.agents.lumalabs.ai). Standard library only, like :mod:`.config`, which reads it.

Prices, in US cents: uni-1 and uni-1-max are Luma's published per-image prices (text to image
4.04 and 10.00 cents; an edit's source and each reference image add 0.30). Ray 3.2 and layering
prices are not in the guides the emulator was written from: ASSUMPTIONS, per second by resolution
as Ray 2's published ones (5 s at 720p: 71 cents), 360p half of 540p, HDR twice SDR; a layering
costs a uni-1 image per layer at 1k, twice that at 2k.
"""

from __future__ import annotations

AGENTS_PREFIX = "/agents/v1"
#: Where the presigned upload URLs of ``POST /files`` point (no Bearer auth, an unguessable token).
UPLOADS_PREFIX = "/uploads/"
#: Where the outputs of completed Agents generations are served: ``/assets/agents/{id}/{index}.{ext}``.
OUTPUTS_PREFIX = "/assets/agents/"
#: The ``X-API-Version`` every Agents answer carries (the guides' example).
API_VERSION = "2026-04-01"

IMAGE_TYPES = ("image", "image_edit", "layering")
VIDEO_TYPES = ("video", "video_edit", "video_reframe")
GENERATION_TYPES = ("image", "image_edit", "video", "video_edit", "video_reframe", "layering")
IMAGE_MODELS = ("uni-1", "uni-1-max")
VIDEO_MODELS = ("ray-3.2",)
MODELS = ("uni-1", "uni-1-max", "ray-3.2")
#: Types that edit a ``source`` and need one.
SOURCE_TYPES = ("image_edit", "video_edit", "video_reframe", "layering")
ASPECT_RATIOS = ("3:1", "2:1", "21:9", "16:9", "4:3", "3:2", "1:1", "3:4", "2:3", "9:16", "1:2", "1:3")
#: The aspect ratios Ray 3.2 renders (the others are image-only).
VIDEO_ASPECT_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
OUTPUT_FORMATS = ("png", "jpeg")
STYLES = ("auto", "manga")
DURATIONS = ("5s", "10s")
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
HDR_RESOLUTIONS = ("720p", "1080p")
EDIT_STRENGTHS = (
    "adhere_1",
    "adhere_2",
    "adhere_3",
    "flex_1",
    "flex_2",
    "flex_3",
    "reimagine_1",
    "reimagine_2",
    "reimagine_3",
)
POSE_STRENGTHS = ("precise", "coarse")
LAYERING_RESOLUTIONS = ("1k", "2k")
FILE_PURPOSES = ("input", "reference")
FILE_STATES = ("pending", "ready", "failed", "deleted")
#: The MIME types ``POST /files`` takes, and the Pillow format each image type must decode as.
IMAGE_MIME_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
VIDEO_MIME_TYPES = ("video/mp4", "video/quicktime")

PROMPT_MAX = 6000
LAYERING_PROMPT_MAX = 500
MAX_IMAGE_REFS = {"image": 9, "image_edit": 8}
MAX_KEYFRAMES = 64
FRAMES_PER_SECOND = 24
#: Inline media (``data``) above this answers 413 (the guides: "Image exceeds 50 MB").
MAX_INLINE_BYTES = 50 * 1024 * 1024
#: A presigned upload is at most 5 GiB (one S3 PUT); a multipart ``POST /files`` at most this
#: (an assumption: the guides name an "inline size cap" without a figure).
MAX_FILE_BYTES = 5 * 1024**3
MAX_MULTIPART_BYTES = 20 * 1024 * 1024
#: How long a presigned upload URL stays valid, in seconds.
UPLOAD_URL_SECONDS = 3600
FILE_LIST_DEFAULT, FILE_LIST_MAX = 25, 100

#: Every ``failure_code`` and the ``failure_reason`` given with it unless one is chosen.
FAILURE_REASONS = {
    "content_moderated": "Prompt or input image violated content guidelines",
    "generation_failed": "Internal model error during generation",
    "budget_exhausted": "Ran out of funds mid-generation",
    "output_not_found": "Generated output could not be retrieved",
    "image_too_large": "An input image exceeded the size limit",
    "unsupported_format": "An input media file was in an unsupported format",
    "corrupt_input": "An input media file could not be decoded",
    "invalid_request": "The request could not be processed",
    "rate_limited": "Upstream capacity was exhausted; retry the request later",
}
FAILURE_CODES = tuple(FAILURE_REASONS)

#: The layers a ``layering`` generation answers, front to back (the last is the background):
#: ``(label, alpha_hint, what the description says)``.
LAYERS = (
    ("subject", "soft", "The main subject"),
    ("midground", "hard", "The objects around the subject"),
    ("background", "none", "The opaque background"),
)

UNI_1_CENTS = 4.04
UNI_1_MAX_CENTS = 10.0
REFERENCE_CENTS = 0.3
#: Ray 3.2, an assumption (see the module docstring): US cents per second by resolution.
RAY_3_2_CENTS_PER_SECOND = {"360p": 4.0, "540p": 8.0, "720p": 14.2, "1080p": 31.8}


def image_price_cents(model: str, references: int) -> float:
    """
    Return the price of one uni-1 or uni-1-max image, in US cents.

    :param model: ``uni-1`` or ``uni-1-max``.
    :param references: images the request conditions on (``image_ref`` entries, plus the source
        of an ``image_edit``).
    """
    base = UNI_1_MAX_CENTS if model == "uni-1-max" else UNI_1_CENTS
    return round(base + REFERENCE_CENTS * references, 4)


def video_price_cents(resolution: str, seconds: int, hdr: bool) -> float:
    """
    Return the price of one Ray 3.2 video, in US cents (an assumption, see the module docstring).

    :param resolution: one of :data:`RESOLUTIONS`.
    :param seconds: its length.
    :param hdr: HDR output.
    """
    cents = RAY_3_2_CENTS_PER_SECOND.get(resolution, RAY_3_2_CENTS_PER_SECOND["720p"]) * seconds
    return round(cents * (2 if hdr else 1), 4)


def layering_price_cents(resolution: str) -> float:
    """
    Return the price of one layering, in US cents (an assumption, see the module docstring).

    :param resolution: ``1k`` or ``2k``.
    """
    per_layer = UNI_1_CENTS * (2 if resolution == "2k" else 1)
    return round(per_layer * len(LAYERS), 4)
