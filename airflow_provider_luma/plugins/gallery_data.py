"""
What the gallery shows: the generations of a DAG run's Luma tasks, read from the metadata database.

A Luma task is one that pushed a ``generation`` XCom (every Luma operator and the sensor do), or a
``batch`` manifest (a batch operator: a card per item, its stored copies not served). Only
XCom values, task-instance rows, the run's serialized DAG and rendered fields are read: no
connection, so no API key, is ever touched.

XComs are untrusted here: anyone allowed to write XComs (a task, a user of the REST API) can put
anything in them, and the gallery runs in the api-server's origin. So an asset URL is shown only
when it is ``http`` or ``https`` (:func:`~airflow_provider_luma.asset_urls.web_url`), and a stored
copy is served only when the task itself could have written it (:func:`served_copy`) and, when
local, is a regular file of its own (no link planted under its name).
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

from airflow_provider_luma.asset_urls import web_url
from airflow_provider_luma.batches import XCOM_BATCH
from airflow_provider_luma.generations import XCOM_COST, XCOM_GENERATION, asset_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: A stored copy is only ever served with one of these suffixes.
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
}


@dataclass(frozen=True)
class GenerationCard:
    """
    One Luma task instance of a run and the generation it made.

    :param task_id: the task.
    :param map_index: its map index (-1 when not mapped).
    :param state: the task instance's state.
    :param duration: seconds the task instance took (None while running).
    :param generation: the generation as Luma last returned it.
    :param stored_path: where the task copied the asset, when the gallery may serve it
        (:func:`served_copy`).
    :param cost: what the task said it cost, in US dollars (its ``cost`` XCom; None: not a
        number of at least 0).
    :param item: the batch item (its place in ``requests``) the card shows; None: the task's only
        generation.
    """

    task_id: str
    map_index: int
    state: str
    duration: float | None
    generation: dict[str, Any]
    stored_path: str | None
    cost: float | None = None
    item: int | None = None

    @property
    def request(self) -> dict[str, Any]:
        request = self.generation.get("request")
        return request if isinstance(request, dict) else {}

    @property
    def prompt(self) -> str:
        return str(self.request.get("prompt") or "")

    @property
    def model(self) -> str:
        return str(self.generation.get("model") or self.request.get("model") or "")

    @property
    def asset_url(self) -> str | None:
        """The asset URL when a browser may be given it (``http``/``https``), else None."""
        return web_url(asset_url(self.generation))

    @property
    def thumbnail_url(self) -> str | None:
        """
        The asset URL when a page may load it by itself: ``https`` only. A planted ``http`` URL
        would have every viewer's browser fetch an internal address as the page loads.
        """
        url = self.asset_url
        return url if url and url[:8].lower() == "https://" else None

    @property
    def is_video(self) -> bool:
        output = self.generation.get("output")  # the Agents API's: [{type, url}]
        if isinstance(output, list):
            return bool(output) and isinstance(output[0], dict) and output[0].get("type") == "video"
        assets = self.generation.get("assets") or {}
        return not assets.get("image") and bool(assets.get("video"))

    @property
    def label(self) -> str:
        task = self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"
        return task if self.item is None else f"{task} requests[{self.item}]"


def stored_media_type(path: str) -> str | None:
    """
    The media type of a stored copy, or None when its suffix is not an image or video one.

    :param path: the stored copy's path or URL.
    """
    return MEDIA_TYPES.get(posixpath.splitext(urlsplit(path).path)[1].lower())


def served_copy(return_value: Any, output_path: Any) -> str | None:
    """
    ``return_value`` when it is a copy the task itself wrote, which the gallery may serve; else None.

    That is: an absolute path (``file://``, an object store's ``scheme://bucket/...``, or a bare
    ``/path``) with no user part (no ``conn_id@``), no ``.`` or ``..`` segment, no query; with an
    image or video suffix; and exactly the task's ``output_path`` file, or a file right inside its
    ``output_path`` folder (a value ending in "/"), as :func:`airflow_provider_luma.storage.destination_for`
    names it. Decided on the text alone: nothing is opened or looked up.

    :param return_value: the task's ``return_value`` XCom (anything).
    :param output_path: the task's rendered ``output_path`` (None when it has none).
    """
    stored, declared = _absolute(return_value), _absolute(output_path)
    if stored is None or declared is None or stored_media_type(stored[2]) is None:
        return None
    scheme, bucket, path = stored
    if declared[2].endswith("/"):
        inside = (scheme, bucket, posixpath.dirname(path).rstrip("/") + "/") == declared
        return str(return_value) if inside else None
    return str(return_value) if stored == declared else None


def _absolute(value: Any) -> tuple[str, str, str] | None:
    """``(scheme, bucket or host, path)`` of an absolute, plain path URL; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    scheme = parts.scheme.lower() or "file"
    path = parts.path
    segments = path.split("/")[1:-1] if path.endswith("/") else path.split("/")[1:]
    if (
        scheme in ("http", "https")
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or not path.startswith("/")
        or any(segment in ("", ".", "..") for segment in segments)
    ):
        return None
    return scheme, parts.netloc.lower(), path


def local_path(path: str) -> str | None:
    """
    The file system path of a local stored copy (``file://``, ``local://`` or a bare path), or
    None for an object store's.

    :param path: a stored copy's path or URL.
    """
    parts = urlsplit(path)
    return parts.path if parts.scheme.lower() in ("", "file", "local") else None


def is_own_regular_file(status: os.stat_result) -> bool:
    """
    Whether ``status`` (of ``lstat``, or ``fstat`` of a file opened without following links) is
    that of a regular file with no other name: not a link, FIFO or folder planted under a copy's name.

    :param status: the file's status.
    """
    return stat.S_ISREG(status.st_mode) and status.st_nlink == 1


def _may_be_own_file(path: str) -> bool:
    """
    Whether a stored copy may be served: a local one must be a regular file of its own, not a
    link (symbolic or hard) planted under its name. Looked at with ``lstat``, never opened; the
    route that serves it checks again on the file it opens.

    :param path: a copy :func:`served_copy` let through.
    """
    local = local_path(path)
    if local is None:
        return True  # object stores have no links
    try:
        return is_own_regular_file(os.lstat(local))
    except OSError:
        return False


def _untemplated(value: Any) -> bool:
    return isinstance(value, str) and "{{" not in value and "{%" not in value


def output_paths(session: Session, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
    """
    The ``output_path`` each task instance of a run used, for the tasks that have one.

    Read from the run's serialized DAG, or, for a templated value (``{{ ... }}``) or one a mapped
    task expands over, from the task instance's rendered fields (which the worker writes before
    the task runs; no XCom, so nobody but the DAG's own code decides them).

    :param session: a metadata database session.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from sqlalchemy import select

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    dag = _dag_of(dag_run, session) if dag_run else None
    declared: dict[str, Any] = {}
    for task in dag.tasks if dag else ():
        if "output_path" in getattr(task, "template_fields", ()):
            # A mapped task keeps its fixed arguments in partial_kwargs; others as attributes.
            partial = getattr(task, "partial_kwargs", None)
            fixed = partial.get("output_path") if isinstance(partial, dict) else None
            declared[task.task_id] = fixed if partial is not None else getattr(task, "output_path", None)
    paths: dict[tuple[str, int], str] = {}
    rendered = session.scalars(select(Rendered).where(Rendered.dag_id == dag_id, Rendered.run_id == run_id))
    for row in rendered:
        if row.task_id not in declared:
            continue
        value = declared[row.task_id]
        if not _untemplated(value):
            value = (row.rendered_fields or {}).get("output_path")
        if isinstance(value, str) and value:
            paths[(row.task_id, row.map_index)] = value
    return paths


def _amount(value: Any) -> float | None:
    """A cost XCom's value when it is one (an XCom may be planted): a finite number of at least 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        return None
    return float(value)


#: A batch item's states (:class:`~airflow_provider_luma.batches.ItemResult`).
ITEM_STATES = ("completed", "failed", "timeout", "error")


def _batch_cards(key: tuple[str, int], ti: Any, manifest: Any) -> list[GenerationCard]:
    """
    A card per item of a batch's manifest (an XCom, so anything: what is not an item's is left out).
    Its stored copies are not served (the route serves one copy per task instance); the card shows
    the asset URL while it is valid.
    """
    items = manifest.get("items") if isinstance(manifest, dict) else None
    cards = []
    for item in items if isinstance(items, list) else ():
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or item.get("state") not in ITEM_STATES:
            continue
        url = item.get("url") if isinstance(item.get("url"), str) else None
        kind = "video" if url and stored_media_type(url) == "video/mp4" else "image"
        generation = {
            "id": str(item.get("generation_id") or ""),
            "state": item["state"],
            "failure_reason": str(item.get("failure") or "") or None,
            "assets": {kind: url} if url else {},
        }
        cost = _amount(item.get("cost"))
        cards.append(GenerationCard(key[0], key[1], _state_of(ti), None, generation, None, cost, index))
    return cards


def _state_of(ti: Any) -> str:
    """A task instance's state as text ("" before it has one)."""
    return str(getattr(ti.state, "value", ti.state) or "")


def _dag_of(dag_run: Any, session: Session) -> Any:
    """The serialized DAG the run was made from (its latest version before Airflow has versions)."""
    try:
        from airflow.models.dagbag import DBDagBag
    except ImportError:  # no DBDagBag yet: the latest serialized version
        from airflow.models.serialized_dag import SerializedDagModel

        return SerializedDagModel.get_dag(dag_run.dag_id, session=session)
    return DBDagBag(load_op_links=False).get_dag_for_run(dag_run, session=session)


def read_generations(
    session: Session, dag_id: str, run_id: str, task_id: str | None = None, map_index: int | None = None
) -> list[GenerationCard]:
    """
    The generations of a run's Luma tasks (or of one task instance), in task and map-index order.

    :param session: a metadata database session.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param task_id: only this task.
    :param map_index: only this map index (with ``task_id``).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    def scoped(query: Any, model: Any) -> Any:
        query = query.where(model.dag_id == dag_id, model.run_id == run_id)
        if task_id is not None:
            query = query.where(model.task_id == task_id)
        if map_index is not None:
            query = query.where(model.map_index == map_index)
        return query

    xcom_rows = session.scalars(
        scoped(select(XComModel), XComModel).where(
            XComModel.key.in_((XCOM_GENERATION, XCOM_RETURN_KEY, XCOM_COST, XCOM_BATCH))
        )
    )
    values: dict[tuple[str, int], dict[str, Any]] = {}
    for row in xcom_rows:
        values.setdefault((row.task_id, row.map_index), {})[row.key] = XComModel.deserialize_value(row)
    instances = {
        (ti.task_id, ti.map_index): ti for ti in session.scalars(scoped(select(TaskInstance), TaskInstance))
    }
    stored_paths: dict[tuple[str, int], str] | None = None  # read only when a card may have a copy
    cards = []
    for key, found in sorted(values.items()):
        generation = found.get(XCOM_GENERATION)
        ti = instances.get(key)
        if ti is None:
            continue
        if not isinstance(generation, dict):
            cards += _batch_cards(key, ti, found.get(XCOM_BATCH))
            continue
        stored = None
        if _absolute(found.get(XCOM_RETURN_KEY)) is not None:
            if stored_paths is None:
                stored_paths = output_paths(session, dag_id, run_id)
            stored = served_copy(found.get(XCOM_RETURN_KEY), stored_paths.get(key))
            if stored is not None and not _may_be_own_file(stored):
                stored = None
        cards.append(
            GenerationCard(
                task_id=key[0],
                map_index=key[1],
                state=_state_of(ti),
                duration=ti.duration,
                generation=generation,
                stored_path=stored,
                cost=_amount(found.get(XCOM_COST)),
            )
        )
    return cards
