"""What a generate operator asks Luma for: the create endpoint and the validated body."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any


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
