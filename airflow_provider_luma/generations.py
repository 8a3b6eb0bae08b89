"""Reading Luma's generation objects: their state and their asset's URL."""

from __future__ import annotations

import enum
from typing import Any

from airflow_provider_luma.exceptions import LumaError


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
    assets = generation.get("assets") or {}
    url = assets.get("image") or assets.get("video")
    return url if isinstance(url, str) else None
