"""
The gallery's FastAPI app, mounted on the api-server at ``/luma`` (Airflow 3.1+).

Every route is behind Airflow's own auth manager: the caller is the user of the request's JWT
(the UI's ``_token`` cookie or an ``Authorization: Bearer`` header), and must be allowed to read
the DAG's XComs (which hold what is shown). No token: 401; not allowed: 403, before anything is read.

The pages run in the api-server's origin (the UI frames them with scripts and same-origin allowed),
and what they show comes from XComs anyone allowed to write XComs may have planted. So they run no
script at all: every answer carries a Content-Security-Policy without ``script-src`` (the page's one
``<style>`` block is allowed by a nonce of its own), ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``; links are only ever ``http(s)`` or this app's own routes, and
what a page loads by itself (thumbnails) only ``https`` or this app's own routes (see
:mod:`~airflow_provider_luma.plugins.gallery_data`). A stored copy is served only as a regular file
reached through no link (:func:`_read_stored`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep  # noqa: TC002 (FastAPI reads it at run time)
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from airflow_provider_luma.plugins.gallery_data import (
    is_own_regular_file,
    local_path,
    read_generations,
    stored_media_type,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, MutableMapping

    from airflow_provider_luma.plugins.gallery_data import GenerationCard

#: Bytes per read when streaming a stored copy.
STREAM_CHUNK = 256 << 10
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
#: Reading a run's generations means reading its XComs: the same permission the XCom API asks for.
_CAN_READ = [Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM))]
#: The policy of every answer that is not a gallery page (JSON, stored copies, errors): nothing at all.
NOTHING_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
#: Sent with every answer, whatever it is.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def page_policy(style_nonce: str) -> str:
    """
    The Content-Security-Policy of a gallery page: no script, the page's own style, thumbnails.

    :param style_nonce: the nonce of the page's ``<style>`` block (new for every answer).
    """
    return (
        "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors 'self'; style-src 'nonce-{style_nonce}'; "
        "img-src 'self' https:; media-src 'self' https:"
    )


class SecurityHeaders:
    """
    ASGI middleware: every answer of the app gets :data:`SECURITY_HEADERS`, and the policy that
    allows nothing unless the route set its own (the pages do); 401, 403 and 404 included.

    :param app: the app to wrap.
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = {**SECURITY_HEADERS, "content-security-policy": NOTHING_POLICY}
                headers += [
                    (name.encode(), value.encode())
                    for name, value in wanted.items()
                    if name.encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _stored_url(request: Request, card: GenerationCard) -> str | None:
    """The stored copy's URL on this app (``root_path`` is where the api-server mounted it)."""
    if card.stored_path is None:
        return None
    run = f"{quote(request.path_params['dag_id'])}/{quote(request.path_params['run_id'])}"
    task = f"{quote(card.task_id)}/{card.map_index}"
    return f"{request.scope.get('root_path', '')}/runs/{run}/tasks/{task}/stored"


def _card_view(request: Request, card: GenerationCard) -> dict[str, Any]:
    """What the template and the JSON answer show of one card (never the whole generation)."""
    stored_url = _stored_url(request, card)
    return {
        "task_id": card.task_id,
        "map_index": card.map_index,
        "item": card.item,
        "label": card.label,
        "state": card.state,
        "duration": card.duration,
        "generation_id": card.generation.get("id"),
        "generation_state": card.generation.get("state"),
        "failure_reason": card.generation.get("failure_reason"),
        "created_at": card.generation.get("created_at"),
        "prompt": card.prompt,
        "model": card.model,
        "cost": card.cost,
        "asset_url": card.asset_url,
        "stored_path": card.stored_path,
        "stored_url": stored_url,
        "thumbnail_url": stored_url or card.thumbnail_url,
        "is_video": card.is_video,
    }


def _render(request: Request, title: str, scope: str, cards: list[GenerationCard]) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _TEMPLATES.get_template("gallery.html").render(
        title=title, scope=scope, cards=[_card_view(request, card) for card in cards], style_nonce=nonce
    )
    return HTMLResponse(html, headers={"content-security-policy": page_policy(nonce)})


def create_gallery_app() -> FastAPI:
    """The gallery's routes: HTML pages for a run and a task instance, their JSON, stored copies."""
    app = FastAPI(title="Luma gallery", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)

    @app.get("/runs/{dag_id}/{run_id}", dependencies=_CAN_READ, response_class=HTMLResponse)
    def run_gallery(dag_id: str, run_id: str, request: Request, session: SessionDep) -> HTMLResponse:
        """Every Luma generation of one DAG run."""
        cards = read_generations(session, dag_id, run_id)
        return _render(request, f"Luma generations of {run_id}", "run", cards)

    @app.get("/runs/{dag_id}/{run_id}/generations", dependencies=_CAN_READ)
    def run_generations(dag_id: str, run_id: str, request: Request, session: SessionDep) -> dict[str, Any]:
        """The same as the run's page, as JSON."""
        cards = read_generations(session, dag_id, run_id)
        return {"generations": [_card_view(request, card) for card in cards]}

    task_path = "/runs/{dag_id}/{run_id}/tasks/{task_id}/{map_index}"

    @app.get(task_path, dependencies=_CAN_READ, response_class=HTMLResponse)
    def task_gallery(
        dag_id: str, run_id: str, task_id: str, map_index: str, request: Request, session: SessionDep
    ) -> HTMLResponse:
        """The generation of one task instance."""
        cards = read_generations(session, dag_id, run_id, task_id, _map_index(map_index))
        title = f"Luma generation of {task_id}" + (f"[{map_index}]" if _map_index(map_index) >= 0 else "")
        return _render(request, title, "task instance", cards)

    @app.get(f"{task_path}/stored", dependencies=_CAN_READ)
    def stored_copy(
        dag_id: str, run_id: str, task_id: str, map_index: str, session: SessionDep
    ) -> StreamingResponse:
        """
        The copy the task stored (``output_path``): browsers cannot open ``file://`` or ``s3://``.

        Only a copy the task itself wrote (see
        :func:`~airflow_provider_luma.plugins.gallery_data.served_copy`); anything else in its XCom
        gets a 404, and nothing is opened.
        """
        cards = read_generations(session, dag_id, run_id, task_id, _map_index(map_index))
        path = cards[0].stored_path if cards else None
        media_type = stored_media_type(path) if path else None
        if path is None or media_type is None:
            raise HTTPException(404, f"{task_id}[{map_index}] of {run_id} stored no image or video copy")
        return StreamingResponse(_read_stored(path), media_type=media_type)

    return app


def _map_index(value: str) -> int:
    """
    A task instance's map index from the URL; -1 (not mapped) for anything but an integer.

    The UI leaves ``{MAP_INDEX}`` as it is in a view's href on an unmapped task's page.

    :param value: the path segment.
    """
    try:
        return int(value)
    except ValueError:
        return -1


def _read_stored(path: str) -> Iterator[bytes]:
    """
    The bytes of a stored copy; 404 (before a byte is read) unless a local copy is a regular file
    reached through no link.

    The path is the task's own (:func:`~airflow_provider_luma.plugins.gallery_data.served_copy`),
    but its folder is shared with whoever may write there: a symbolic or hard link planted under
    the copy's name would otherwise serve any image the api-server can read, and a FIFO would
    hold the request.

    :param path: the stored copy (``file://``, a bare path, or an object store's URL).
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    local = local_path(path)
    stored: BinaryIO = _open_regular_file(local) if local is not None else ObjectStoragePath(path).open("rb")
    return _chunks(stored)


def _open_regular_file(local_path: str) -> BinaryIO:
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(local_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise HTTPException(404, "The stored copy cannot be opened") from None
    if not is_own_regular_file(os.fstat(fd)):
        os.close(fd)
        raise HTTPException(404, "The stored copy is not a regular file of its own")
    return os.fdopen(fd, "rb")


def _chunks(stored: BinaryIO) -> Iterator[bytes]:
    with stored:
        while chunk := stored.read(STREAM_CHUNK):
            yield chunk
