"""Pure-Python picture synthesis and PNG/JPEG encoding for the emulator's image assets."""

from __future__ import annotations
