"""
Which generation an ambiguous create made, if the evidence singles one out.

Luma has no idempotency key. When a create fails after it may have reached Luma (a reset, a read
timeout, a 5xx), the only evidence is the list of recent generations: one made by our request has
exactly our request and was created after we sent it. Identical requests made at the same time
(variants of one prompt, mapped tasks) look the same, so ids that other tasks already hold are
ruled out, and when more than one candidate is left nothing is adopted: a wrong guess would return
a sibling's image, and deleting "ours" later would delete theirs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_luma.exceptions import LumaAdoptionError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

#: Page size when searching the newest generations for one made by an ambiguous create.
RECENT_GENERATIONS_PAGE = 100
#: Pages searched at most: a busy account can make many generations before a retry looks.
MAX_SEARCHED_PAGES = 10


def same_request(echoed: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """
    True when a generation's echoed request is exactly the request we sent.

    Luma echoes the fields as sent and adds the ``generation_type`` discriminator; fields left
    empty (None) count as not sent on either side.

    :param echoed: the ``request`` of a generation object.
    :param sent: the body we posted.
    """
    theirs = {key: value for key, value in echoed.items() if value is not None}
    ours = {key: value for key, value in sent.items() if value is not None}
    if "generation_type" not in ours:
        theirs.pop("generation_type", None)
    return theirs == ours


def generation_made_by(
    recent: Iterable[Mapping[str, Any]],
    body: Mapping[str, Any],
    sent_at: float,
    clock_skew_seconds: float,
    taken_ids: Collection[str] = (),
) -> dict[str, Any] | None:
    """
    The one generation our create made, or None when Luma lists none.

    :param recent: recent generations, newest first (``GET /generations``); read only as far back
        as ``sent_at`` minus the clock skew.
    :param body: the create request we sent.
    :param sent_at: epoch seconds when we (first) sent it.
    :param clock_skew_seconds: how far Luma's clock may be behind ours.
    :param taken_ids: ids other tasks already hold; never ours.
    :raises LumaAdoptionError: more than one generation fits, so none can be told to be ours.
    """
    candidates = []
    for generation in recent:
        if created_before(generation, sent_at - clock_skew_seconds):
            break  # newest first: the rest are older still
        if generation.get("id") in taken_ids:
            continue
        if same_request(generation.get("request") or {}, body):
            candidates.append(dict(generation))
    if len(candidates) > 1:
        ids = ", ".join(str(generation.get("id")) for generation in candidates)
        raise LumaAdoptionError(
            f"A create may have reached Luma, but {len(candidates)} generations made since then carry "
            f"exactly this request ({ids}) and none of them is known to belong to another task, so none "
            "was adopted and nothing was created: keep the one you want and delete the others"
        )
    return candidates[0] if candidates else None


def created_before(generation: Mapping[str, Any], moment: float) -> bool:
    """
    Whether Luma says ``generation`` was created before ``moment`` (False when it does not say).

    :param generation: a generation object.
    :param moment: epoch seconds.
    """
    created = _epoch_seconds(generation.get("created_at"))
    return created is not None and created < moment


def _epoch_seconds(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
