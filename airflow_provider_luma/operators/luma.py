"""
Operators for every create call of Luma's Dream Machine API, and one to delete a generation.

Imported by every DAG file that uses the provider: nothing heavy at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_luma.exceptions import LumaNotFoundError, LumaValidationError
from airflow_provider_luma.kinds import operator_template_fields
from airflow_provider_luma.links import LumaGenerationLink
from airflow_provider_luma.operators.base import LumaGenerationOperatorBase
from airflow_provider_luma.operators.batch import LumaImageBatchOperator, LumaVideoBatchOperator
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context


class LumaImageGenerateOperator(LumaGenerationOperatorBase):
    """
    Generates an image with Luma's Photon models (Dream Machine API) or ``uni-1`` / ``uni-1-max``
    (Agents API, through a ``luma_agents`` connection); ``return_value`` is the image URL.

    :param prompt: what to draw, 3 to 5,000 characters (templated).
    :param model: ``photon-1`` (default) or ``photon-flash-1``; ``uni-1`` or ``uni-1-max`` on the
        Agents API (templated).
    :param aspect_ratio: one of 1:1 3:4 4:3 9:16 16:9 9:21 21:9; Luma's default is 16:9. The Agents
        API takes 3:1 2:1 21:9 16:9 4:3 3:2 1:1 3:4 2:3 9:16 1:2 1:3 (templated).
    :param format: ``jpg`` or ``png``; Luma's default when unset. ``png`` or ``jpeg`` on the Agents
        API (templated).
    :param image_ref: up to 4 reference images, each a URL or ``{"url": ..., "weight": 0..1}``. On
        the Agents API up to 9 (8 with ``source``), each a URL, an earlier generation's id or
        ``{"url" | "data" | "generation_id" | "file_id": ..., "media_type": ...}`` (templated).
    :param style_ref: style reference images, each a URL or ``{"url": ..., "weight": 0..1}``
        (templated).
    :param character_ref: ``{"identity0": {"images": [up to 4 URLs]}}``, or just the list of URLs
        (templated).
    :param modify_image_ref: an image to modify, a URL or ``{"url": ..., "weight": 0..1}``; weights
        of 0.0 to 0.1 suit colour changes (templated).
    :param callback_url: URL Luma POSTs the generation to on each state change; best effort, the
        wait still polls (templated).
    :param source: Agents API only: the image to edit (an ``image_edit``), a reference as in
        ``image_ref`` (templated).
    :param style: Agents API only: ``auto`` or ``manga`` (templated).
    :param web_search: Agents API only: let the model search the web for references.
    :param user_id: Agents API only: your end user's opaque tag, for Luma's abuse attribution and
        per-user usage (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` (``luma_conn_id``,
        ``deferrable``, ``poll_interval``, ``timeout``, ``wait_for_completion``, ``reattach``,
        ``delete_on_timeout``, ``cancel_on_kill``) and BaseOperator's.
    """

    kind = "image"

    template_fields: Sequence[str] = (*operator_template_fields("image"), "output_path")

    def __init__(
        self,
        *,
        prompt: str,
        model: str = "photon-1",
        aspect_ratio: str | None = None,
        format: str | None = None,
        image_ref: list[Any] | None = None,
        style_ref: list[Any] | None = None,
        character_ref: dict[str, Any] | list[str] | None = None,
        modify_image_ref: dict[str, Any] | str | None = None,
        callback_url: str | None = None,
        source: dict[str, Any] | str | None = None,
        style: str | None = None,
        web_search: bool | None = None,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaVideoGenerateOperator(LumaGenerationOperatorBase):
    """
    Generates a video with Luma's Ray models: ``ray-2`` and ``ray-flash-2`` (Dream Machine API), or
    ``ray-3.2`` (Agents API, through a ``luma_agents`` connection); ``return_value`` is the video URL.

    :param prompt: what to film, 3 to 5,000 characters (templated).
    :param model: ``ray-2`` (default), ``ray-flash-2`` or ``ray-3.2`` (templated).
    :param aspect_ratio: one of 1:1 3:4 4:3 9:16 16:9 9:21 21:9 (the Agents API's list for
        ``ray-3.2``) (templated).
    :param resolution: ``540p``, ``720p``, ``1080p`` or ``4k``; ``360p`` to ``1080p`` for ``ray-3.2``
        (templated).
    :param duration: ``5s`` or ``9s``; ``5s`` or ``10s`` for ``ray-3.2`` (templated).
    :param loop: make the video loop seamlessly.
    :param keyframes: ``{"frame0": ..., "frame1": ...}``; each an image URL, an earlier generation's id
        (to extend or interpolate it, e.g. from another task's ``generation_id`` XCom), or the API's
        ``{"type": "image", "url": ...}`` / ``{"type": "generation", "id": ...}`` (templated).
    :param concepts: concept keys from ``LumaHook.list_concepts`` (templated).
    :param callback_url: URL Luma POSTs the generation to on each state change (templated).
    :param user_id: Agents API only: your end user's opaque tag (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "video"

    template_fields: Sequence[str] = (*operator_template_fields("video"), "output_path")

    def __init__(
        self,
        *,
        prompt: str,
        model: str = "ray-2",
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        duration: str | None = None,
        loop: bool | None = None,
        keyframes: dict[str, Any] | None = None,
        concepts: list[Any] | None = None,
        callback_url: str | None = None,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaImageReframeOperator(LumaGenerationOperatorBase):
    """
    Extends an image to a new aspect ratio (outpainting); ``return_value`` is the new image's URL.

    :param media_url: URL of the image to extend, e.g. an upstream task's ``return_value`` (templated).
    :param aspect_ratio: the new aspect ratio, one of 1:1 3:4 4:3 9:16 16:9 9:21 21:9 (templated).
    :param model: ``photon-1`` (default) or ``photon-flash-1`` (templated).
    :param prompt: what to paint in the new area (templated).
    :param format: ``jpg`` or ``png`` (templated).
    :param geometry: where the source goes in the new frame, pixels by key: ``grid_position_x``,
        ``grid_position_y``, ``resized_width``, ``resized_height``, ``x_start``, ``x_end``,
        ``y_start``, ``y_end``.
    :param callback_url: URL Luma POSTs the generation to on each state change (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "image_reframe"

    template_fields: Sequence[str] = (*operator_template_fields("image_reframe"), "output_path")

    def __init__(
        self,
        *,
        media_url: str,
        aspect_ratio: str,
        model: str = "photon-1",
        prompt: str | None = None,
        format: str | None = None,
        geometry: dict[str, int] | None = None,
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaVideoReframeOperator(LumaGenerationOperatorBase):
    """
    Extends a video to a new aspect ratio; ``return_value`` is the new video's URL.

    :param media_url: URL of the video to extend (templated).
    :param aspect_ratio: the new aspect ratio, one of 1:1 3:4 4:3 9:16 16:9 9:21 21:9 (templated).
    :param model: ``ray-2`` (default) or ``ray-flash-2``; ``ray-3.2`` on the Agents API (a
        ``video_reframe``, which needs a ``prompt``; ``media_url`` may there be an earlier
        generation's id) (templated).
    :param prompt: what to film in the new area (templated).
    :param first_frame_url: an image for the first frame (templated).
    :param geometry: where the source goes in the new frame; see :class:`LumaImageReframeOperator`.
    :param callback_url: URL Luma POSTs the generation to on each state change (templated).
    :param user_id: Agents API only: your end user's opaque tag (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "video_reframe"

    template_fields: Sequence[str] = (*operator_template_fields("video_reframe"), "output_path")

    def __init__(
        self,
        *,
        media_url: str,
        aspect_ratio: str,
        model: str = "ray-2",
        prompt: str | None = None,
        first_frame_url: str | None = None,
        geometry: dict[str, int] | None = None,
        callback_url: str | None = None,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaVideoModifyOperator(LumaGenerationOperatorBase):
    """
    Restyles a video; ``return_value`` is the new video's URL.

    :param media_url: URL of the video to restyle (templated).
    :param mode: how far to move from the source: ``adhere_1..3`` (close), ``flex_1..3``,
        ``reimagine_1..3`` (free) (templated).
    :param model: ``ray-2`` (default) or ``ray-flash-2``; ``ray-3.2`` on the Agents API (a
        ``video_edit``, ``mode`` as its edit strength; it needs a ``prompt``) (templated).
    :param prompt: the new style (templated).
    :param first_frame_url: an image for the first frame (templated).
    :param callback_url: URL Luma POSTs the generation to on each state change (templated).
    :param user_id: Agents API only: your end user's opaque tag (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "video_modify"

    template_fields: Sequence[str] = (*operator_template_fields("video_modify"), "output_path")

    def __init__(
        self,
        *,
        media_url: str,
        mode: str,
        model: str = "ray-2",
        prompt: str | None = None,
        first_frame_url: str | None = None,
        callback_url: str | None = None,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaImageLayersOperator(LumaGenerationOperatorBase):
    """
    Splits an image into layers with Luma's Agents API (a ``layering`` generation, through a
    ``luma_agents`` connection); ``return_value`` is the list of the layers' image URLs, front to back
    (the last is the background), and ``output_path`` stores each (``<generation id>-1.png``...).

    :param source: the image to split: a URL, an earlier generation's id (e.g. from another task's
        ``generation_id`` XCom), or ``{"url" | "data" | "generation_id" | "file_id": ...,
        "media_type": ...}`` (templated).
    :param prompt: how to split it, 3 to 500 characters (templated).
    :param model: ``uni-1`` (default) (templated).
    :param resolution: ``1k`` or ``2k`` for every layer (2k costs more, per layer) (templated).
    :param user_id: your end user's opaque tag (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "layering"

    template_fields: Sequence[str] = (*operator_template_fields("layering"), "output_path")

    def __init__(
        self,
        *,
        source: dict[str, Any] | str,
        prompt: str,
        model: str = "uni-1",
        resolution: str | None = None,
        user_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaVideoUpscaleOperator(LumaGenerationOperatorBase):
    """
    Upscales a finished video; ``return_value`` is the upscaled video's URL.

    :param generation_id: the finished video generation, e.g. an upstream task's ``generation_id``
        XCom (templated).
    :param resolution: ``540p``, ``720p``, ``1080p`` or ``4k`` (templated).
    :param callback_url: URL Luma POSTs the generation to on each state change (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "video_upscale"

    template_fields: Sequence[str] = (*operator_template_fields("video_upscale"), "output_path")

    def __init__(
        self, *, generation_id: str, resolution: str, callback_url: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaVideoAddAudioOperator(LumaGenerationOperatorBase):
    """
    Adds a sound track to a finished video; ``return_value`` is the new video's URL.

    :param generation_id: the finished video generation (templated).
    :param prompt: the sound to add, 3 to 5,000 characters (templated).
    :param negative_prompt: sounds to avoid (templated).
    :param callback_url: URL Luma POSTs the generation to on each state change (templated).
    :param kwargs: the waiting options of :class:`LumaGenerationOperatorBase` and BaseOperator's.
    """

    kind = "video_audio"

    template_fields: Sequence[str] = (*operator_template_fields("video_audio"), "output_path")

    def __init__(
        self,
        *,
        generation_id: str,
        prompt: str,
        negative_prompt: str | None = None,
        callback_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(arguments=locals(), **kwargs)


class LumaDeleteGenerationOperator(BaseOperator):
    """
    Deletes a generation (and its assets) on Luma.

    :param generation_id: the generation to delete, a UUID (templated).
    :param luma_conn_id: Airflow connection with the Luma API key.
    :param missing_ok: succeed when the generation is already gone (default), instead of failing.
    """

    template_fields: Sequence[str] = ("generation_id",)

    def __init__(
        self,
        *,
        generation_id: str,
        luma_conn_id: str = "luma_default",
        missing_ok: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.generation_id = generation_id
        self.luma_conn_id = luma_conn_id
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> None:
        """Delete the generation."""
        from airflow_provider_luma.hooks.luma import LumaHook

        generation_id = check_generation_id(self.generation_id)
        try:
            LumaHook(luma_conn_id=self.luma_conn_id).delete_generation(generation_id)
        except LumaNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("Generation %s was already gone", generation_id)
            return
        self.log.info("Deleted generation %s", generation_id)


__all__ = [
    "LumaDeleteGenerationOperator",
    "LumaGenerationLink",
    "LumaGenerationOperatorBase",
    "LumaImageBatchOperator",
    "LumaImageGenerateOperator",
    "LumaImageLayersOperator",
    "LumaImageReframeOperator",
    "LumaValidationError",
    "LumaVideoAddAudioOperator",
    "LumaVideoBatchOperator",
    "LumaVideoGenerateOperator",
    "LumaVideoModifyOperator",
    "LumaVideoReframeOperator",
    "LumaVideoUpscaleOperator",
]
