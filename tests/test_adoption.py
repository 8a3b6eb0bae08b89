"""The rule that decides which generation an ambiguous create made (pure: no HTTP)."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma.exceptions import LumaAdoptionError
from airflow_provider_luma.hooks._adoption import generation_made_by, same_request

SENT_AT = 1_800_000_000.0  # our clock, epoch seconds
BODY = {"generation_type": "image", "model": "photon-1", "prompt": "a lighthouse"}


def generation(gid: str, seconds_after_send: float, request: dict | None = None) -> dict:
    from datetime import datetime, timezone

    created = datetime.fromtimestamp(SENT_AT + seconds_after_send, tz=timezone.utc)
    return {"id": gid, "created_at": created.isoformat().replace("+00:00", "Z"), "request": request or BODY}


def test_same_request_is_exact_up_to_the_added_discriminator_and_empty_fields():
    sent = {"model": "photon-1", "prompt": "a lighthouse", "aspect_ratio": None}
    assert same_request({"generation_type": "image", "model": "photon-1", "prompt": "a lighthouse"}, sent)
    assert not same_request({"model": "photon-1", "prompt": "a lighthouse", "aspect_ratio": "1:1"}, sent)
    assert not same_request({"model": "photon-1"}, sent)
    assert not same_request({**BODY, "generation_type": "video"}, BODY)


def test_the_one_exact_match_since_the_send_is_adopted():
    newest_first = [
        generation("variant", 0.5, {**BODY, "aspect_ratio": "1:1"}),
        generation("ours", 0.2),
        generation("older", -60),
    ]
    assert generation_made_by(newest_first, BODY, SENT_AT, clock_skew_seconds=10)["id"] == "ours"


def test_generations_older_than_the_skew_window_are_never_ours():
    assert generation_made_by([generation("older", -11)], BODY, SENT_AT, clock_skew_seconds=10) is None
    assert (
        generation_made_by([generation("skewed", -9)], BODY, SENT_AT, clock_skew_seconds=10)["id"] == "skewed"
    )


def test_ids_held_by_others_are_ruled_out():
    newest_first = [generation("sibling", 0.3), generation("ours", 0.2)]
    found = generation_made_by(newest_first, BODY, SENT_AT, 10, taken_ids={"sibling"})
    assert found["id"] == "ours"


def test_several_candidates_adopt_none_and_name_them():
    newest_first = [generation("first", 0.3), generation("second", 0.2)]
    with pytest.raises(LumaAdoptionError) as error:
        generation_made_by(newest_first, BODY, SENT_AT, 10)
    assert "first" in str(error.value)
    assert "second" in str(error.value)
    assert isinstance(error.value, AirflowFailException)


def test_reading_stops_at_the_window():
    read: list[str] = []

    def newest_first():
        for item in (generation("ours", 0.1), generation("old", -30), generation("never read", -40)):
            read.append(item["id"])
            yield item

    assert generation_made_by(newest_first(), BODY, SENT_AT, 10)["id"] == "ours"
    assert read == ["ours", "old"]  # paging stops once the window is passed
