"""Reading Luma's generation objects: their state and their asset's URL (checked before use)."""

from __future__ import annotations

import enum
from typing import Any

from airflow_provider_luma import asset_urls
from airflow_provider_luma.exceptions import LumaError, LumaUnsafeAssetUrlError


class GenerationState(str, enum.Enum):
    """States of a Luma generation."""

    QUEUED = "queued"
    DREAMING = "dreaming"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the generation will not change any more."""
        return self in (GenerationState.COMPLETED, GenerationState.FAILED)

    @classmethod
    def of(cls, generation: dict[str, Any]) -> GenerationState | None:
        """
        The state of a generation object, or None for a state this provider does not know.

        :param generation: a generation as Luma returns it.
        """
        try:
            return cls(generation.get("state"))
        except ValueError:
            return None

    @classmethod
    def known(cls, generation: dict[str, Any]) -> GenerationState:
        """
        The state of a generation object; a state this provider does not know is an error.

        :param generation: a generation as Luma returns it.
        :raises LumaError: Luma reports a state outside queued, dreaming, completed, failed.
        """
        state = cls.of(generation)
        if state is None:
            raise LumaError(
                f"Luma reports generation {generation.get('id')} in state {generation.get('state')!r}, "
                "which this provider does not know"
            )
        return state


TERMINAL_STATES = (GenerationState.COMPLETED.value, GenerationState.FAILED.value)


def asset_url(generation: dict[str, Any]) -> str | None:
    """
    The URL of a generation's main asset: its image, else its video.

    :param generation: a generation as Luma returns it.
    """
    assets = generation.get("assets")
    if not isinstance(assets, dict):  # None while dreaming; anything else in a planted XCom
        return None
    url = assets.get("image") or assets.get("video")
    return url if isinstance(url, str) else None


def checked_asset_url(generation: dict[str, Any], trusted_origin: str | None) -> str:
    """
    The asset URL of a completed generation, once it is one that may be returned, pushed or linked.

    The one rule for every place that ends a wait (the worker's finish, the sensor, the trigger):
    the URL must be ``https``, or on the connection's own origin (scheme, host and port of its
    base URL: the emulator, a proxy in front of Luma). See
    :func:`airflow_provider_luma.asset_urls.shown_refusal`.

    :param generation: a completed generation, as Luma returns it.
    :param trusted_origin: the connection's base URL (``LumaCredentials.base_url``), or None to
        allow ``https`` only.
    :raises LumaUnsafeAssetUrlError: the URL is anything else (final; it names the URL, without
        credentials).
    :raises LumaError: the generation has no asset URL at all.
    """
    generation_id = str(generation.get("id", "?"))
    url = asset_url(generation)
    if not url:
        raise LumaError(f"Luma generation {generation_id} completed without an asset URL")
    reason = asset_urls.shown_refusal(url, trusted_origin)
    if reason:
        raise LumaUnsafeAssetUrlError(generation_id, asset_urls.redacted(url), reason)
    return url
