"""
One emulated Agents API generation: a :class:`~.generations.GenerationRecord` (the same clock-driven
timeline, credits and forcing) with the Agents API's JSON form (the SDK's ``Generation`` type).

States: ``queued`` for ``queued_seconds``, ``processing`` for ``dreaming_seconds`` (the Dream
Machine side's settings), then ``completed`` with ``output``, or ``failed`` with a
``failure_code`` and a ``failure_reason``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_luma.testing.agents_catalog import FAILURE_REASONS, LAYERS, OUTPUTS_PREFIX, VIDEO_TYPES
from airflow_provider_luma.testing.generations import COMPLETED, DREAMING, FAILED, GenerationRecord

#: The ``family`` of Agents generations on the shared ledger (never one of the Dream Machine's).
AGENTS_FAMILY = "agents"
PROCESSING = "processing"


@dataclass(eq=False)
class AgentsGenerationRecord(GenerationRecord):
    """
    An Agents API generation as the emulator keeps it; ``kind`` is its ``type``.

    :param failure_code: the code shown when the outcome is ``failed``.
    :param forced_code: the code of a failure a test forced (``LumaEmulator.fail``).
    """

    failure_code: str | None = None
    forced_code: str | None = None

    @property
    def is_video(self) -> bool:
        """Whether its output is a video."""
        return self.kind in VIDEO_TYPES

    @property
    def output_count(self) -> int:
        """How many outputs it has once completed (a layering: one per layer)."""
        return len(LAYERS) if self.kind == "layering" else 1

    @property
    def output_ext(self) -> str:
        """The file extension of its outputs: ``mp4``, ``png`` or ``jpg``."""
        if self.is_video:
            return "mp4"
        return "png" if self.kind == "layering" else self.image_format

    def _layer(self, index: int) -> dict[str, Any]:
        label, alpha_hint, what = LAYERS[index]
        subject = (self.prompt or "").strip()[:80] or "the source image"
        return {
            "index": index,
            "label": label,
            "description": f"{what} of: {subject}",
            "alpha_hint": alpha_hint,
        }

    def _outputs(self, asset_base: str) -> list[dict[str, Any]]:
        media = "video" if self.is_video else "image"
        outputs = []
        for index in range(self.output_count):
            output: dict[str, Any] = {
                "type": media,
                "url": f"{asset_base}{OUTPUTS_PREFIX}{self.id}/{index}.{self.output_ext}",
            }
            if self.kind == "layering":
                output["layer"] = self._layer(index)
            outputs.append(output)
        return outputs

    def _failure(self) -> tuple[str, str]:
        if self.forced is not None:
            code = self.forced_code or "generation_failed"
            return code, self.forced[1] or FAILURE_REASONS[code]
        code = self.failure_code or "generation_failed"
        return code, self.failure_reason or FAILURE_REASONS[code]

    def render(self, now: float, asset_base: str) -> tuple[dict[str, Any], bytes]:
        """
        Return the generation object at ``now`` and its JSON bytes (cached per state).

        The dict is shared with the cache: do not change it.

        :param now: a ``time.monotonic()`` value.
        :param asset_base: scheme://host[:port] that output URLs start with.
        """
        state = self.state(now)
        key = (state, asset_base)
        cached = self._cache.get(key)
        if cached is None:
            code, reason = self._failure() if state == FAILED else (None, None)
            data = {
                "id": self.id,
                "created_at": self.created_at,
                "model": self.model,
                "state": PROCESSING if state == DREAMING else state,
                "type": self.kind,
                "failure_code": code,
                "failure_reason": reason,
                "output": self._outputs(asset_base) if state == COMPLETED else None,
            }
            cached = (data, json.dumps(data, separators=(",", ":")).encode())
            self._cache[key] = cached
        return cached
