"""
The route table: which paths the emulator serves, and the template of a concrete path.

Templates name routes in stats and fault rules: ``"GET /generations/{id}"``. Dream Machine API
paths are given relative to :data:`~.catalog.API_PREFIX`; Agents API paths whole
(``/agents/v1/generations``, so that neither API's ``/generations`` is taken for the other's),
as are asset paths (``/assets/...``) and presigned upload paths (``/uploads/...``).
"""

from __future__ import annotations

from airflow_provider_luma.testing.agents_catalog import AGENTS_PREFIX, OUTPUTS_PREFIX, UPLOADS_PREFIX
from airflow_provider_luma.testing.catalog import API_PREFIX

#: ``(method, template)`` of the 13 API endpoints, plus ``POST /generations``: the older path of
#: video creates (Luma's docs' curl examples, SDKs before mid-2025).
API_ROUTES = (
    ("POST", "/generations"),
    ("POST", "/generations/image"),
    ("POST", "/generations/image/reframe"),
    ("POST", "/generations/video"),
    ("POST", "/generations/video/modify"),
    ("POST", "/generations/video/reframe"),
    ("POST", "/generations/{id}/upscale"),
    ("POST", "/generations/{id}/audio"),
    ("GET", "/generations/{id}"),
    ("DELETE", "/generations/{id}"),
    ("GET", "/generations"),
    ("GET", "/generations/concepts/list"),
    ("GET", "/credits"),
    ("GET", "/ping"),
)

#: ``(method, template)`` of the Agents API endpoints, plus the presigned upload (``PUT``, no
#: Bearer auth) and the outputs' downloads.
AGENTS_ROUTES = (
    ("POST", AGENTS_PREFIX + "/generations"),
    ("GET", AGENTS_PREFIX + "/generations/{id}"),
    ("POST", AGENTS_PREFIX + "/files"),
    ("GET", AGENTS_PREFIX + "/files"),
    ("GET", AGENTS_PREFIX + "/files/{id}"),
    ("DELETE", AGENTS_PREFIX + "/files/{id}"),
    ("POST", AGENTS_PREFIX + "/files/{id}/complete"),
    ("PUT", UPLOADS_PREFIX + "{token}"),
    ("GET", OUTPUTS_PREFIX + "{id}/{name}"),
)

_STATIC = frozenset(template for _, template in API_ROUTES if "{" not in template)
ASSETS_PREFIX = "/assets/"
ADMIN_PREFIX = "/_emulator/"
#: The request header that carries the control token the admin routes need.
CONTROL_TOKEN_HEADER = "X-Luma-Emulator-Token"


def relative_path(path: str) -> str | None:
    """
    Return the path relative to the API base path, the asset path as is, or None if neither.

    :param path: the request path.
    """
    if path.startswith(API_PREFIX):
        rest = path[len(API_PREFIX) :]
        return rest if rest.startswith("/") else None
    if path.startswith((AGENTS_PREFIX + "/", ASSETS_PREFIX, UPLOADS_PREFIX)):
        return path
    return None


def _agents_template_of(path: str) -> str | None:
    """The template of an Agents API, upload or output path (whole), or None."""
    if path.startswith(UPLOADS_PREFIX):
        token = path[len(UPLOADS_PREFIX) :]
        return UPLOADS_PREFIX + "{token}" if token and "/" not in token else None
    if path.startswith(OUTPUTS_PREFIX):
        parts = path[len(OUTPUTS_PREFIX) :].split("/")
        return OUTPUTS_PREFIX + "{id}/{name}" if len(parts) == 2 and all(parts) else None
    parts = path[len(AGENTS_PREFIX) :].split("/")  # ["", "files", id, "complete"]
    if parts[1:2] not in (["generations"], ["files"]) or not all(parts[1:]):
        return None
    collection = AGENTS_PREFIX + "/" + parts[1]
    if len(parts) == 2:
        return collection
    if len(parts) == 3:
        return collection + "/{id}"
    if len(parts) == 4 and parts[1] == "files" and parts[3] == "complete":
        return collection + "/{id}/complete"
    return None


def template_of(path: str) -> str | None:
    """
    Return the route template of a relative path (see :func:`relative_path`), or None.

    :param path: the relative path.
    """
    if path.startswith((AGENTS_PREFIX + "/", UPLOADS_PREFIX, OUTPUTS_PREFIX)):
        return _agents_template_of(path)
    if path in _STATIC:
        return path
    parts = path.split("/")
    if len(parts) == 3 and parts[2]:
        if parts[1] == "generations":
            return "/generations/{id}"
        if parts[1] == "assets":
            return "/assets/{name}"
    if len(parts) == 4 and parts[2] and parts[3]:
        if parts[1] == "generations" and parts[3] in ("upscale", "audio"):
            return f"/generations/{{id}}/{parts[3]}"
        if parts[1] == "assets" and parts[2] == "blob":
            return "/assets/blob/{size}"
    return None
