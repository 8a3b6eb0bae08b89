"""The error the emulator's request handling raises to answer with a 4xx/5xx status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """
    An HTTP error answer: ``status`` with the JSON body ``{"detail": detail}``.

    :param status: HTTP status code.
    :param detail: a message, or a FastAPI-style list of validation errors.
    :param headers: extra response headers, e.g. ``Retry-After``.
    """

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def not_found() -> ApiError:
    """The answer for an unknown or deleted generation id."""
    return ApiError(404, "Generation not found")
