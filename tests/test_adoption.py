"""
The rule that decides which generation a lost create made: the flow's step run against a scripted
list of generations (no HTTP), every call it makes recorded.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_luma.adoption import PAGE, IdenticalCreates, Siblings, find_lost_create, same_request
from airflow_provider_luma.effects import Call, Sleep, XComValues, drive
from airflow_provider_luma.exceptions import LumaAdoptionError
from airflow_provider_luma.kinds import GenerationRequest

SENT_AT = 1_800_000_000.0  # our clock, epoch seconds
LOST_AT = SENT_AT + 2
BODY = {"generation_type": "image", "model": "photon-1", "prompt": "a lighthouse"}
REQUEST = GenerationRequest("/generations/image", BODY)
LOG = logging.getLogger(__name__)


def id_of(name: str) -> str:
    """The generation id a test names ``name`` (Luma's ids are UUIDs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def generation(name: str, seconds_after_send: float, request: dict | None = None) -> dict:
    created = datetime.fromtimestamp(SENT_AT + seconds_after_send, tz=timezone.utc)
    return {
        "id": id_of(name),
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "request": request or BODY,
    }


class ScriptedLuma:
    """Answers the flow's effects: the list from ``listed`` (newest first), XComs from ``held``."""

    def __init__(self, listed: list[dict], held: dict[str, list[Any]] | None = None) -> None:
        self.listed = listed
        self.held = held or {}
        self.calls: list[Any] = []

    def __call__(self, effect: Any) -> Any:
        self.calls.append(effect)
        if isinstance(effect, Call):
            offset, limit = effect.params["offset"], effect.params["limit"]
            page = self.listed[offset : offset + limit]
            return {"generations": page, "has_more": offset + limit < len(self.listed)}
        if isinstance(effect, XComValues):
            return self.held.get(effect.task_id, [])
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
        return None

    def pages_read(self) -> int:
        return sum(isinstance(call, Call) for call in self.calls)


NO_SIBLINGS = Siblings()


def find(luma: ScriptedLuma, siblings: Siblings = NO_SIBLINGS, look_until: float = 0.0) -> dict | None:
    return drive(find_lost_create(REQUEST, SENT_AT, LOST_AT, look_until, siblings, LOG), luma)


def test_same_request_is_exact_up_to_the_added_discriminator_and_empty_fields():
    sent = {"model": "photon-1", "prompt": "a lighthouse", "aspect_ratio": None}
    assert same_request({"generation_type": "image", "model": "photon-1", "prompt": "a lighthouse"}, sent)
    assert not same_request({"model": "photon-1", "prompt": "a lighthouse", "aspect_ratio": "1:1"}, sent)
    assert not same_request({"model": "photon-1"}, sent)
    assert not same_request({**BODY, "generation_type": "video"}, BODY)
    assert not same_request("planted", BODY)


def test_the_one_exact_match_in_the_window_is_adopted():
    luma = ScriptedLuma(
        [
            generation("variant", 0.5, {**BODY, "aspect_ratio": "1:1"}),
            generation("ours", 0.2),
            generation("older", -60),
        ]
    )
    assert find(luma)["id"] == id_of("ours")


def test_generations_older_than_the_send_are_never_ours_give_or_take_the_skew():
    assert find(ScriptedLuma([generation("older", -11)])) is None
    assert find(ScriptedLuma([generation("skewed", -9)]))["id"] == id_of("skewed")


def test_a_later_identical_request_outside_the_window_is_not_ours():
    """Another run's create of the same request, after ours was lost: never taken for ours."""
    luma = ScriptedLuma([generation("later run", LOST_AT - SENT_AT + 11), generation("ours", 0.1)])
    assert find(luma)["id"] == id_of("ours")
    assert find(ScriptedLuma([generation("later run", LOST_AT - SENT_AT + 11)])) is None


def test_ids_held_by_siblings_are_ruled_out():
    luma = ScriptedLuma(
        [generation("sibling", 0.3), generation("ours", 0.2)], held={"variant": [id_of("sibling"), None, 7]}
    )
    assert find(luma, Siblings(("variant",)))["id"] == id_of("ours")


def test_several_candidates_adopt_none_and_name_the_request_and_them():
    with pytest.raises(LumaAdoptionError) as error:
        find(ScriptedLuma([generation("first", 0.3), generation("second", 0.2)]))
    for named in (id_of("first"), id_of("second"), "/generations/image", "a lighthouse"):
        assert named in str(error.value)
    assert isinstance(error.value, AirflowFailException)


def test_reading_goes_back_to_the_send_however_many_pages_that_takes():
    """A busy account: 1,500 generations newer than ours, then ours, then older ones."""
    newer = [generation(f"other {n}", 1.5, {**BODY, "prompt": f"other {n}"}) for n in range(1500)]
    luma = ScriptedLuma([*newer, generation("ours", 0.2), *[generation(f"old {n}", -60) for n in range(500)]])
    assert find(luma)["id"] == id_of("ours")
    assert luma.pages_read() == 17  # pages overlap by a few; it stops at the first older than the send


def test_a_generation_listed_on_two_pages_is_one_candidate():
    """Creates landing while the list is read push what was read onto the next page."""
    luma = ScriptedLuma([generation(f"other {n}", 1, {**BODY, "prompt": str(n)}) for n in range(PAGE - 1)])
    luma.listed.append(generation("ours", 0.2))
    luma.listed += [generation("ours", 0.2), generation("old", -60)]  # the same one, listed again
    assert find(luma)["id"] == id_of("ours")


def test_nothing_listed_is_looked_for_again_until_the_settle_time_passes():
    luma = ScriptedLuma([])
    assert find(luma, look_until=time.time() + 0.3) is None
    sleeps = [call for call in luma.calls if isinstance(call, Sleep)]
    assert sleeps
    assert luma.pages_read() == len(sleeps) + 1


def test_a_candidate_whose_id_is_not_a_generation_id_is_never_adopted():
    planted = {**generation("junk", 0.1), "id": "../../credits"}
    assert find(ScriptedLuma([planted])) is None


# -- a batch's identical items, looking at once ----------------------------------------------------


def test_identical_items_looking_at_once_take_one_generation_each_the_oldest_first():
    """Two identical items of one batch, both in doubt (a triggerer killed before their records)."""
    held: set[str] = set()
    twins = IdenticalCreates(held)
    for index in (0, 2):
        twins.searching(REQUEST.fingerprint, index)
    luma = ScriptedLuma([generation("newer", 0.4), generation("older", 0.2)])
    first = find(luma, Siblings(ids=held, twins=twins, index=2))
    second = find(luma, Siblings(ids=held, twins=twins, index=0))
    assert (first["id"], second["id"]) == (id_of("older"), id_of("newer"))
    assert held == {id_of("older"), id_of("newer")}
    assert twins.share(REQUEST.fingerprint) == 1  # neither looks any more


def test_more_identical_generations_than_items_looking_adopt_none():
    """A third identical generation in the window: another client's identical request is among them."""
    held: set[str] = set()
    twins = IdenticalCreates(held)
    for index in (0, 2):
        twins.searching(REQUEST.fingerprint, index)
    luma = ScriptedLuma([generation("third", 0.5), generation("newer", 0.4), generation("older", 0.2)])
    with pytest.raises(LumaAdoptionError) as error:
        find(luma, Siblings(ids=held, twins=twins, index=0))
    assert "more than the 2 identical items of this batch looking" in str(error.value)
    assert held == set()


def test_a_search_waits_for_the_answer_of_an_identical_create_in_flight():
    """An identical item's create is processed and listed, its answer not yet back: not ours to take."""
    held: set[str] = set()
    twins = IdenticalCreates(held)
    in_flight = twins.sending(REQUEST.fingerprint)
    in_flight.__enter__()

    class AnswerArrivesDuringTheSleep(ScriptedLuma):
        def __call__(self, effect: Any) -> Any:
            if isinstance(effect, Sleep):
                self.calls.append(effect)
                held.add(id_of("in flight"))  # as the batch does with a create's answer
                in_flight.__exit__(None, None, None)
                return None
            return super().__call__(effect)

    luma = AnswerArrivesDuringTheSleep([generation("in flight", 0.4), generation("lost", 0.2)])
    assert find(luma, Siblings(ids=held, twins=twins, index=0))["id"] == id_of("lost")
    assert sum(isinstance(call, Sleep) for call in luma.calls) == 1
