"""
What the gallery shows: the generations of a DAG run's Luma tasks, read from the metadata database.

A Luma task is one that pushed a ``generation`` XCom (every Luma operator and the sensor do). Only
XCom values and task-instance rows are read: no connection, so no API key, is ever touched.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

from airflow_provider_luma.generations import asset_url
from airflow_provider_luma.results import XCOM_GENERATION

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: A stored copy is only ever served with one of these suffixes: the path comes from XCom, and the
#: gallery must not become a way to read any file the api-server can read.
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
    :param stored_path: where the task copied the asset (``output_path``), if it did.
    """

    task_id: str
    map_index: int
    state: str
    duration: float | None
    generation: dict[str, Any]
    stored_path: str | None

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
        return asset_url(self.generation)

    @property
    def is_video(self) -> bool:
        assets = self.generation.get("assets") or {}
        return not assets.get("image") and bool(assets.get("video"))

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


def stored_media_type(path: str) -> str | None:
    """
    The media type of a stored copy, or None when its suffix is not an image or video one.

    :param path: the stored copy's path or URL.
    """
    return MEDIA_TYPES.get(posixpath.splitext(urlsplit(path).path)[1].lower())


def _stored_path(return_value: Any, generation: dict[str, Any]) -> str | None:
    """The task's stored copy: its return value when that is a path rather than the asset URL."""
    if not isinstance(return_value, str) or return_value == asset_url(generation):
        return None
    if urlsplit(return_value).scheme in ("http", "https") or stored_media_type(return_value) is None:
        return None
    return return_value


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
        scoped(select(XComModel), XComModel).where(XComModel.key.in_((XCOM_GENERATION, XCOM_RETURN_KEY)))
    )
    values: dict[tuple[str, int], dict[str, Any]] = {}
    for row in xcom_rows:
        values.setdefault((row.task_id, row.map_index), {})[row.key] = XComModel.deserialize_value(row)
    instances = {
        (ti.task_id, ti.map_index): ti for ti in session.scalars(scoped(select(TaskInstance), TaskInstance))
    }
    cards = []
    for key, found in sorted(values.items()):
        generation = found.get(XCOM_GENERATION)
        ti = instances.get(key)
        if not isinstance(generation, dict) or ti is None:
            continue
        cards.append(
            GenerationCard(
                task_id=key[0],
                map_index=key[1],
                state=str(getattr(ti.state, "value", ti.state) or ""),
                duration=ti.duration,
                generation=generation,
                stored_path=_stored_path(found.get(XCOM_RETURN_KEY), generation),
            )
        )
    return cards
