"""
OpenLineage facets of a finished generation: what a generate operator read and wrote.

* outputs: the stored file, when the task has an ``output_path``, named the way OpenLineage names
  object storage (``s3://bucket`` + key, ``file`` + path...);
* inputs: every reference image or source media URL of the request Luma echoes in the generation
  (``image_ref``, ``style_ref``, ``character_ref``, ``modify_image_ref``, ``media``,
  ``first_frame``, image keyframes), without their query strings (presigned URLs carry signatures);
* run facet ``luma_generation``: the generation's id, type, model, state, asset URL and cost.

Imported only when the OpenLineage provider asks for facets (through
``get_openlineage_facets_on_complete`` on the operators), so that DAG files never pay for it and
nothing changes where the OpenLineage provider is not installed. The operator hands over what it
kept when it finished rather than pulling XCom: the listener calls it in a forked process, where
an XCom request to the supervisor hangs (seen on Airflow 3.3: the event was dropped after the
listener's 10 s timeout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from airflow.providers.common.compat.openlineage.facet import Dataset, RunFacet
from airflow.providers.openlineage.extractors import OperatorLineage

from airflow_provider_luma.generations import asset_url

if TYPE_CHECKING:
    from collections.abc import Iterator

RUN_FACET_NAME = "luma_generation"
_SCHEMA_URL = (
    "https://github.com/airflow-provider-luma/airflow-provider-luma/blob/main/docs/lineage.rst#openlineage"
)


@attrs.define
class LumaGenerationRunFacet(RunFacet):
    """
    The Luma generation a task run made.

    :param generation_id: the generation's id.
    :param generation_type: ``image``, ``video``...
    :param model: the model that made it.
    :param state: ``completed`` or ``failed``.
    :param asset_url: the URL of the image or video without its query string, when there is one.
    :param cost_usd: what it cost, in US dollars (the estimate; None: no known price).
    """

    generation_id: str
    generation_type: str | None = None
    model: str | None = None
    state: str | None = None
    asset_url: str | None = None
    cost_usd: float | None = None

    @staticmethod
    def _get_schema() -> str:
        return _SCHEMA_URL


def dataset_for_url(url: str) -> Dataset:
    """
    The OpenLineage dataset of a file or object URL.

    :param url: ``file:///path``, ``s3://bucket/key``, ``https://host/path``...; a query string,
        fragment or ``user:password@`` part is dropped.
    """
    parts = urlsplit(url)
    # The authority without any user:password@ (or conn_id@) part: lineage events are stored and shown.
    authority = parts.netloc.rpartition("@")[2]
    if parts.scheme in ("", "file"):
        return Dataset(namespace="file", name=parts.path)
    if parts.scheme in ("http", "https"):
        return Dataset(namespace=f"{parts.scheme}://{authority}", name=parts.path or "/")
    return Dataset(namespace=f"{parts.scheme}://{authority}", name=parts.path.lstrip("/"))


def reference_urls(request: dict[str, Any]) -> Iterator[str]:
    """
    The URLs of the images and media a generation request was made from, in request order.

    :param request: the request as Luma echoes it in the generation object.
    """
    for name in ("image_ref", "style_ref"):
        for ref in request.get(name) or []:
            if isinstance(ref, dict) and ref.get("url"):
                yield ref["url"]
    for name in ("modify_image_ref", "media", "first_frame"):
        ref = request.get(name)
        if isinstance(ref, dict) and ref.get("url"):
            yield ref["url"]
    for identity in (request.get("character_ref") or {}).values():
        yield from (url for url in (identity or {}).get("images") or [] if isinstance(url, str))
    for frame in (request.get("keyframes") or {}).values():
        if isinstance(frame, dict) and frame.get("type") == "image" and frame.get("url"):
            yield frame["url"]


def generation_lineage(
    generation: dict[str, Any] | None, stored_path: str | list[str] | None, cost: float | None = None
) -> OperatorLineage:
    """
    The lineage of one generation.

    :param generation: Luma's generation object (None when the task never got one).
    :param stored_path: where the asset was copied to, if anywhere (a list, for several outputs).
    :param cost: what it cost, in US dollars (None: not known).
    """
    generation = generation or {}
    inputs: dict[tuple[str, str], Dataset] = {}
    for url in reference_urls(generation.get("request") or {}):
        dataset = dataset_for_url(url)
        inputs.setdefault((dataset.namespace, dataset.name), dataset)
    run_facets: dict[str, Any] = {}
    if generation.get("id"):
        run_facets[RUN_FACET_NAME] = LumaGenerationRunFacet(
            generation_id=generation["id"],
            generation_type=generation.get("generation_type"),
            model=generation.get("model"),
            state=generation.get("state"),
            asset_url=(asset_url(generation) or "").split("?", 1)[0] or None,  # no presigning
            cost_usd=cost,
        )
    return OperatorLineage(
        inputs=list(inputs.values()),
        outputs=[
            dataset_for_url(path)
            for path in ([stored_path] if isinstance(stored_path, str) else stored_path or [])
        ],
        run_facets=run_facets,
    )
