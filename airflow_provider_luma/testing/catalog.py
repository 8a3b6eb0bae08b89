"""
The fixed vocabulary of the emulated API: models, enums, concepts, prices and picture sizes.

Values follow the public ``lumaai`` SDK types and Luma's documentation. Prices, in US cents, are
Luma's published ones where it publishes any (photon images, Ray 2 video by resolution and second:
the figures the provider's own estimates use, kept here apart so that a test comparing the two
compares two sources), plausible figures otherwise.
"""

from __future__ import annotations

API_PREFIX = "/dream-machine/v1"

IMAGE_MODELS = ("photon-1", "photon-flash-1")
VIDEO_MODELS = ("ray-2", "ray-flash-2", "ray-1-6")
#: modify/reframe video accept only the Ray 2 models (SDK types).
RAY2_MODELS = ("ray-2", "ray-flash-2")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
IMAGE_FORMATS = ("jpg", "png")
RESOLUTIONS = ("540p", "720p", "1080p", "4k")
DURATIONS = ("5s", "9s")
MODIFY_MODES = (
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
PROMPT_MIN, PROMPT_MAX = 3, 5000
MAX_IMAGE_REFS = 4
MAX_CHARACTER_IMAGES = 4

#: Camera-motion concept keys answered by ``GET /generations/concepts/list``.
CONCEPTS = (
    "aerial",
    "aerial_drone",
    "bolt_cam",
    "crane_down",
    "crane_up",
    "dolly_zoom",
    "elevator_doors",
    "eye_level",
    "ground_level",
    "handheld",
    "high_angle",
    "low_angle",
    "orbit_left",
    "orbit_right",
    "over_the_shoulder",
    "overhead",
    "pan_left",
    "pan_right",
    "pedestal_down",
    "pedestal_up",
    "pov",
    "pull_out",
    "push_in",
    "roll_left",
    "roll_right",
    "selfie",
    "static",
    "tilt_down",
    "tilt_up",
    "tiny_planet",
    "truck_left",
    "truck_right",
    "zoom_in",
    "zoom_out",
)

#: Generation kinds (the request's ``generation_type``) and the family each belongs to.
FAMILY_OF_KIND = {
    "image": "image",
    "reframe_image": "image",
    "video": "video",
    "modify_video": "video",
    "reframe_video": "video",
    "upscale_video": "video",
    "add_audio": "video",
}

_IMAGE_PRICE = {"photon-1": 0.73, "photon-flash-1": 0.19}
#: Ray 2, published: US cents per second by resolution (5 s at 720p: 71 cents).
_RAY_2_CENTS_PER_SECOND = {"540p": 8.0, "720p": 14.2, "1080p": 31.8, "4k": 127.4}
_VIDEO_PRICE_PER_SECOND = {"ray-flash-2": 2.4, "ray-1-6": 5.0}
_RESOLUTION_FACTOR = {"540p": 1.0, "720p": 2.0, "1080p": 4.5, "4k": 18.0}
UPSCALE_PRICE = 10.0
AUDIO_PRICE = 2.0


def price_cents(kind: str, model: str, resolution: str | None = None, duration: str | None = None) -> float:
    """
    Return what one generation costs, in US cents (see the module's docstring).

    :param kind: the generation kind, a key of :data:`FAMILY_OF_KIND`.
    :param model: the model name.
    :param resolution: the video resolution, if any (default 720p).
    :param duration: the video duration, ``"5s"`` or ``"9s"`` (default 5s).
    """
    if kind == "upscale_video":
        return UPSCALE_PRICE
    if kind == "add_audio":
        return AUDIO_PRICE
    if FAMILY_OF_KIND[kind] == "image":
        return _IMAGE_PRICE.get(model, 1.0)
    seconds = 9 if duration == "9s" else 5
    if kind == "video" and model == "ray-2":
        return round(_RAY_2_CENTS_PER_SECOND.get(resolution or "720p", 14.2) * seconds, 4)
    factor = _RESOLUTION_FACTOR.get(resolution or "720p", 2.0)
    return round(_VIDEO_PRICE_PER_SECOND.get(model, 5.0) * seconds * factor, 2)


def picture_size(aspect_ratio: str, long_side: int) -> tuple[int, int]:
    """
    Return ``(width, height)`` of a picture with this aspect ratio and long side.

    :param aspect_ratio: ``"W:H"``, one of :data:`ASPECT_RATIOS`.
    :param long_side: length of the longer side in pixels.
    """
    w, h = (int(part) for part in aspect_ratio.split(":"))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side
