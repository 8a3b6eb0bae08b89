"""
A batch of generations in one task: its items, their outcomes and the manifest. No I/O here.

A batch's ``requests`` is a list whose items are each a prompt or a dict of the single operator's
parameters, merged over the batch's defaults (the operator's own arguments). Every item is
validated before anything is sent, and an error names the item's index and the parameter. Each
item then runs the one generation flow (:mod:`airflow_provider_luma.batch_flow`), and ends as an
:class:`ItemResult`; the task's ``batch`` XCom is their :func:`manifest`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_luma.agents import UPLOAD
from airflow_provider_luma.exceptions import LumaError, LumaFinalError, LumaValidationError
from airflow_provider_luma.kinds import GenerationRequest, build_request, operator_params

#: Luma's Build tier, per family: generations running at once, and creates per minute.
TIER_LIMITS: dict[str, tuple[int, int]] = {"image": (40, 80), "video": (10, 20)}
#: The family (of the tier's limits) each kind of generation counts against.
FAMILY_OF_KIND = {
    "image": "image",
    "image_reframe": "image",
    "video": "video",
    "video_reframe": "video",
    "video_modify": "video",
    "video_upscale": "video",
    "video_audio": "video",
}
#: XCom key of a batch's manifest.
XCOM_BATCH = "batch"
#: The most failures a batch's error lists by name (the manifest has them all).
FAILURES_NAMED = 20


def _refuse_uploads(where: str, value: Any) -> None:
    """Refuse a file in object storage in a batch item: its creates are sent on the triggerer."""
    if isinstance(value, dict):
        if UPLOAD in value:
            raise LumaValidationError(
                where,
                "takes no ObjectStoragePath: a batch creates on the triggerer, which does not read object "
                "storage; give URLs, generation ids or files already uploaded ({'file_id': ...})",
            )
        for item in value.values():
            _refuse_uploads(where, item)
    elif isinstance(value, list):
        for item in value:
            _refuse_uploads(where, item)


def build_batch(kind: str, requests: Any, defaults: Mapping[str, Any]) -> list[GenerationRequest]:
    """
    Validate every item of a batch and return its create calls, in order; no API call here.

    :param kind: a key of :data:`airflow_provider_luma.kinds.KINDS`.
    :param requests: the batch's ``requests``, rendered: a list of prompts and dicts of parameters.
    :param defaults: the parameters every item starts from (the operator's own arguments).
    :raises LumaValidationError: ``requests`` is not a non-empty list, or an item is neither a prompt
        nor a dict, names an unknown parameter or has a bad value; the error names the item.
    """
    allowed = operator_params(kind)
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Sequence):
        raise LumaValidationError(
            "requests", f"must be a list of prompts or dicts of parameters; got {type(requests).__name__}"
        )
    if not requests:
        raise LumaValidationError("requests", "is empty; give at least one prompt or dict of parameters")
    built = []
    for index, item in enumerate(requests):
        where = f"requests[{index}]"
        if isinstance(item, str):
            values: dict[str, Any] = {"prompt": item}
        elif isinstance(item, Mapping):
            unknown = sorted(str(name) for name in set(item) - set(allowed))
            if unknown:
                raise LumaValidationError(
                    f"{where}.{unknown[0]}",
                    f"is not a parameter of {kind} generations; an item takes {', '.join(allowed)}",
                )
            values = dict(item)
        else:
            raise LumaValidationError(
                where,
                f"must be a prompt (a string) or a dict of {', '.join(allowed)}; got {type(item).__name__}",
            )
        try:
            request = build_request(kind, {**defaults, **values})
        except LumaValidationError as exc:
            raise LumaValidationError(f"{where}.{exc.param}", exc.reason) from None
        _refuse_uploads(where, request.body)
        built.append(request)
    return built


def tier_limits(kind: str) -> tuple[int, int]:
    """
    What Luma's Build tier allows the family of ``kind``: generations at once, creates per minute.

    :param kind: a key of :data:`airflow_provider_luma.kinds.KINDS`.
    """
    return TIER_LIMITS[FAMILY_OF_KIND[kind]]


#: The batch options Luma's tier bounds: which of :func:`tier_limits` each is, and what it counts.
TIER_BOUND = {"max_in_flight": (0, "running at once"), "creates_per_minute": (1, "created per minute")}


def check_within_tier(param: str, kind: str, value: Any) -> int:
    """
    ``max_in_flight`` or ``creates_per_minute`` of a batch: by default, and at most, what the tier
    allows the kind's family.

    :param param: ``max_in_flight`` or ``creates_per_minute``.
    :param kind: the batch's kind.
    :param value: the value given (None: the tier's limit).
    """
    which, what = TIER_BOUND[param]
    limit = tier_limits(kind)[which]
    if value is None:
        return limit
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        family = FAMILY_OF_KIND[kind]
        raise LumaValidationError(
            param,
            f"must be a whole number from 1 to {limit} (Luma allows a key {limit} {family} generations "
            f"{what}); got {value!r}",
        )
    return value


def check_allowed_failures(value: Any) -> int | float:
    """
    ``allowed_failures``: a count (a whole number, 0 or more) or a fraction of the items (0 to 1).

    :param value: the value given.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LumaValidationError(
            "allowed_failures", f"must be a count (0, 1, 2...) or a fraction from 0.0 to 1.0; got {value!r}"
        )
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return value
    raise LumaValidationError(
        "allowed_failures", f"must be a count (0, 1, 2...) or a fraction from 0.0 to 1.0; got {value!r}"
    )


def failures_allowed(allowed_failures: int | float, items: int) -> int:
    """
    How many of ``items`` may fail: the count itself, or the fraction of them, rounded down.

    :param allowed_failures: a checked ``allowed_failures``.
    :param items: the batch's size.
    """
    if isinstance(allowed_failures, int):
        return allowed_failures
    return math.floor(allowed_failures * items + 1e-9)


@dataclass(frozen=True)
class ItemResult:
    """
    How one item of a batch ended.

    :param index: its place in ``requests``.
    :param state: ``completed``, ``failed`` (Luma's generation failed), ``timeout`` or ``error``.
    :param generation_id: its generation, if one was made.
    :param url: the asset URL (completed); the list of them when the generation has several outputs.
    :param path: where ``output_path`` stored it (a list, as ``url``).
    :param failure: why it did not complete.
    :param final: its failure is one retrying cannot fix (moderation, a bad request...).
    :param assets: the generation's ``assets`` (completed, Dream Machine API): what a copy to
        ``output_path`` reads.
    :param output: the generation's ``output`` (completed, Agents API), as ``assets``.
    :param cost: what its generation cost, in US dollars: its estimate once it holds one (None: no
        known price); 0 when none was made or it failed (Luma refunds a failed generation).
    """

    index: int
    state: str
    generation_id: str | None = None
    url: str | list[str] | None = None
    path: str | list[str] | None = None
    failure: str | None = None
    final: bool = False
    assets: dict[str, Any] | None = None
    cost: float | None = 0.0
    output: list[Any] | None = None

    @property
    def succeeded(self) -> bool:
        """The item completed."""
        return self.state == "completed"

    @property
    def value(self) -> str | list[str] | None:
        """Its entry in the task's ``return_value``: the stored path, else the URL (None: it failed)."""
        return self.path or self.url

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as carried by the trigger's event."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemResult:
        """
        The result a trigger event carries.

        :param data: a :meth:`to_dict` value.
        """
        fields: dict[str, Any] = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**fields)


#: The most items whose manifest entries a batch keeps in its ``batch`` XCom. A larger batch with
#: an ``output_path`` keeps them in a file there, and the XCom says where (``items_path``): an entry
#: is about 250 bytes, so the XCom stays under about 250 kB, which every pull of it (a downstream
#: task, the gallery, Airflow's XCom page) reads whole from the metadata database. 1,000 is also the
#: largest batch the bench measures on one triggerer. Without ``output_path`` there is nowhere else
#: to keep them: they stay in XCom.
MANIFEST_ITEMS_IN_XCOM = 1000


def keeps_items_in_xcom(count: int) -> bool:
    """
    Whether a batch of ``count`` items keeps its manifest's entries in XCom (see
    :data:`MANIFEST_ITEMS_IN_XCOM`).

    :param count: the batch's items.
    """
    return count <= MANIFEST_ITEMS_IN_XCOM


def summary(batch: dict[str, Any], items_path: str) -> dict[str, Any]:
    """
    The ``batch`` XCom of a batch whose manifest is kept in object storage: its counts and cost, and
    where the whole manifest is.

    :param batch: the whole manifest (:func:`manifest`).
    :param items_path: where it is kept.
    """
    return {**{key: value for key, value in batch.items() if key != "items"}, "items_path": items_path}


def manifest(results: Sequence[ItemResult]) -> dict[str, Any]:
    """
    The ``batch`` XCom: counts, the total cost, and per item its index, generation id, state, URL or
    path, failure and cost.

    :param results: every item's result, in the order of ``requests``.
    """
    succeeded = sum(result.succeeded for result in results)
    return {
        "total": len(results),
        "succeeded": succeeded,
        "failed": len(results) - succeeded,
        "cost": total_cost(results),
        "items": [
            {
                "index": result.index,
                "generation_id": result.generation_id,
                "state": result.state,
                "url": result.url,
                "path": result.path,
                "failure": result.failure,
                "cost": result.cost,
            }
            for result in results
        ],
    }


def total_cost(results: Sequence[ItemResult]) -> float | None:
    """
    What a batch's items cost, in US dollars (None when one of them has no known price).

    :param results: every item's result.
    """
    costs = [result.cost for result in results]
    return None if None in costs else round(sum(cost or 0.0 for cost in costs), 6)


def check_failures(results: Sequence[ItemResult], allowed: int) -> None:
    """
    Fail the task when more items failed than are allowed, naming them and their reasons.

    :param results: every item's result.
    :param allowed: how many may fail.
    :raises LumaFinalError: too many failed, each for a reason retrying cannot fix.
    :raises LumaError: too many failed, some of which a retry may fix (it runs only those).
    """
    failed = [result for result in results if not result.succeeded]
    if len(failed) <= allowed:
        return
    named = "; ".join(
        f"requests[{r.index}]"
        + (f" (generation {r.generation_id})" if r.generation_id else "")
        + f": {r.failure}"
        for r in failed[:FAILURES_NAMED]
    )
    more = (
        f"; and {len(failed) - FAILURES_NAMED} more (see the batch XCom)"
        if len(failed) > FAILURES_NAMED
        else ""
    )
    message = (
        f"{len(failed)} of {len(results)} Luma generations failed, more than allowed_failures "
        f"allows ({allowed}): {named}{more}"
    )
    raise LumaFinalError(message) if all(r.final for r in failed) else LumaError(message)
