"""
Luma's limits on a key, kept before each create (airflow_provider_luma.key_limits): the extra that
sets them, the count a read of the list and this process's own creates make, and many creates on
one event loop (as a triggerer holds them) against the emulator with Luma's limits on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_luma.effects import Call, Remember, Sleep, Turn, adrive
from airflow_provider_luma.exceptions import LumaConnectionConfigError
from airflow_provider_luma.flow import Options, create
from airflow_provider_luma.hooks._credentials import LumaCredentials
from airflow_provider_luma.key_limits import (
    LISTING_GRACE_SECONDS,
    MINUTE_SECONDS,
    RECHECK_SECONDS,
    FamilyLimits,
    KeyLimits,
    KeyRoom,
    room_for,
)
from airflow_provider_luma.kinds import build_request
from airflow_provider_luma.records import Record

NOW = 1_800_000_000.0
LOG = logging.getLogger(__name__)


def listed(*generations: dict[str, Any]) -> dict[str, Any]:
    return {"generations": list(generations), "has_more": False}


def generation(state: str, seconds_ago: float, model: str = "photon-1", gid: str | None = None) -> dict:
    made = datetime.fromtimestamp(NOW - seconds_ago, tz=timezone.utc)
    return {
        "id": gid or str(uuid.uuid4()),
        "state": state,
        "model": model,
        "created_at": made.isoformat().replace("+00:00", "Z"),
    }


def room(in_flight: int, per_minute: int) -> KeyRoom:
    return KeyRoom(KeyLimits({"image": FamilyLimits(in_flight, per_minute)}))


# -- the connection's extra ------------------------------------------------------------------------


def test_the_build_tier_is_kept_unless_the_extra_says_otherwise():
    assert KeyLimits.of_extra({}, "luma").families == {
        "image": FamilyLimits(40, 80),
        "video": FamilyLimits(10, 20),
    }
    raised = KeyLimits.of_extra({"limits": {"image": {"in_flight": 100}}}, "luma").families
    assert raised == {"image": FamilyLimits(100, 80), "video": FamilyLimits(10, 20)}
    assert KeyLimits.of_extra({"limits": False}, "luma").families == {}


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ("fast", "extra 'limits' must be false or a mapping"),
        ({"audio": {"in_flight": 1}}, "extra 'limits' must be false or a mapping"),
        ({"image": {"at_once": 3}}, "extra 'limits'['image'] must be a mapping of 'in_flight'"),
        ({"video": {"in_flight": 0}}, "extra 'limits'['video']['in_flight'] must be a whole number"),
        ({"image": {"creates_per_minute": 2.5}}, "['image']['creates_per_minute'] must be a whole number"),
        ({"image": {"in_flight": True}}, "['image']['in_flight'] must be a whole number"),
    ],
)
def test_bad_limits_in_the_extra_name_the_field_and_hide_the_key(limits, named):
    from airflow.models.connection import Connection

    conn = Connection(
        conn_id="luma_limits",
        conn_type="luma",
        password="sk-secret-key",
        extra=json.dumps({"limits": limits}),
    )
    with pytest.raises(LumaConnectionConfigError) as raised:
        LumaCredentials.from_connection(conn)
    assert named in str(raised.value)
    assert "'luma_limits'" in str(raised.value)
    assert "sk-secret-key" not in str(raised.value)


# -- the count: Luma's list, and what this process let go -----------------------------------------


def test_a_key_with_its_most_generations_running_waits_and_the_other_family_does_not():
    key = KeyRoom(KeyLimits({"image": FamilyLimits(2, 80), "video": FamilyLimits(2, 20)}))
    key.listed(listed(generation("dreaming", 5), generation("queued", 1), generation("completed", 3)), NOW)
    token, wait = key.let_go("image", NOW)
    assert token is None
    assert RECHECK_SECONDS <= wait <= RECHECK_SECONDS * 1.25
    token, wait = key.let_go("video", NOW)
    assert token is not None
    assert wait == 0.0


def test_a_key_at_its_creates_per_minute_waits_until_the_oldest_leaves_the_minute():
    key = room(in_flight=40, per_minute=3)
    key.listed(listed(*(generation("completed", age) for age in (50, 20, 10, 70))), NOW)
    token, wait = key.let_go("image", NOW)
    assert token is None
    # The one made 50 s ago leaves the minute in 10 s (plus the margin, stretched by up to a quarter).
    assert 10.0 < wait <= (10.0 + 0.5) * 1.25


def test_creates_let_go_here_count_until_luma_lists_them():
    key = room(in_flight=2, per_minute=80)
    key.listed(listed(), NOW)
    first, _ = key.let_go("image", NOW)
    second, _ = key.let_go("image", NOW)
    assert first is not None
    assert second is not None
    assert key.let_go("image", NOW)[0] is None  # the list read before them shows neither
    key.not_created(first)  # a 429: it made nothing
    third, _ = key.let_go("image", NOW)
    assert third is not None
    # Luma lists them as ended: their places are free.
    key.created(second, "g-2")
    key.created(third, "g-3")
    key.listed(listed(generation("completed", 1, gid="g-2"), generation("failed", 1, gid="g-3")), NOW + 1)
    assert key.let_go("image", NOW + 1)[0] is not None


def test_a_generation_luma_never_lists_stops_counting_as_running_but_stays_in_the_minute(monkeypatch):
    key = room(in_flight=1, per_minute=2)
    key.listed(listed(), NOW)
    token, _ = key.let_go("image", NOW)
    monkeypatch.setattr(time, "time", lambda: NOW)
    key.created(token, "deleted-at-once")
    later = NOW + LISTING_GRACE_SECONDS + 1
    key.listed(listed(), later)
    assert key.let_go("image", later)[0] is not None  # running: no longer; in the minute: 2 now
    token, wait = key.let_go("image", later)
    assert token is None
    assert wait > MINUTE_SECONDS - LISTING_GRACE_SECONDS - 2


def test_a_hostile_list_counts_nothing_it_cannot_read():
    key = room(in_flight=1, per_minute=1)
    key.listed({"generations": ["x", 7, None, {"state": "completed", "created_at": "yesterday"}]}, NOW)
    assert key.let_go("image", NOW)[0] is not None
    key.listed("not a page", NOW)
    assert key.let_go("image", NOW)[0] is None  # the one let go above counts; the page counts nothing


def test_one_room_per_key_and_base_url_keeping_the_latest_limits():
    limits = KeyLimits({"image": FamilyLimits(3, 3)})
    first = room_for("http://luma.test/v1", "key-a", KeyLimits())
    assert room_for("http://luma.test/v1", "key-a", limits) is first
    assert first.limits is limits
    assert room_for("http://luma.test/v1", "key-b", limits) is not first
    assert "key-a" not in repr(vars(first))


# -- many creates on one event loop, against the emulator with Luma's limits on ---------------------


def create_at_once(monkeypatch, emulator, count: int, limits: Any) -> list[dict[str, Any]]:
    """``count`` creates started together on one event loop (as a triggerer's tasks start), each
    the flow's create step through the hook's async transport; return the generations."""
    from airflow_provider_luma.hooks.luma import LumaHook

    conn_id = f"luma_limits_{uuid.uuid4().hex[:8]}"  # connections are cached by id for a minute
    connection = {"conn_type": "luma", "password": emulator.api_key, "host": emulator.base_url}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**connection, "extra": {"limits": limits}})
    )

    async def main() -> list[dict[str, Any]]:
        hook = LumaHook(luma_conn_id=conn_id)
        credentials = await hook.aget_credentials()
        async with LumaHook.async_session() as session:

            async def perform(effect: Any) -> Any:
                if isinstance(effect, Call):
                    return await hook.async_transport.call(session, **vars(effect))
                if isinstance(effect, Sleep):
                    return await asyncio.sleep(effect.seconds)
                assert isinstance(effect, (Turn, Remember))
                return None

            async def one(number: int) -> dict[str, Any]:
                request = build_request(
                    "image", {"model": "photon-1", "prompt": f"a lighthouse at dusk, take {number}"}
                )
                record = Record(request.path, request.body, try_number=1, started_at=time.time())
                options = Options(time.time() + 120, room=credentials.room)
                return await adrive(create(request, record, options, LOG), perform)

            return list(await asyncio.gather(*(one(number) for number in range(count))))

    return asyncio.run(main())


@pytest.fixture
def limited(emulator):
    """The emulator with Luma's limits on: 3 images running at once, 100 creates a minute."""
    emulator.configure(
        rate_limits=True,
        concurrency_limits={"image": 3},
        creates_per_minute={"image": 100},
        queued_seconds=0.2,
        dreaming_seconds=0.6,
    )
    return emulator


def test_creates_started_together_keep_the_key_under_its_limits_without_a_429(monkeypatch, limited):
    made = create_at_once(monkeypatch, limited, 12, {"image": {"in_flight": 3}})
    stats = limited.stats
    assert len({g["id"] for g in made}) == stats.creates == 12
    assert stats.answers["POST 429"] == 0
    assert stats.max_in_flight == 3


def test_without_the_limits_kept_the_same_creates_lean_on_429s(monkeypatch, limited):
    """The baseline of the test above: each create sent at once, Luma's 429s waited out."""
    made = create_at_once(monkeypatch, limited, 12, False)
    stats = limited.stats
    assert len({g["id"] for g in made}) == stats.creates == 12
    assert stats.answers["POST 429"] >= 9


def test_threads_sharing_a_room_never_let_more_go_than_the_limit():
    """A worker's threads may share one hook, and so one room: its counts change under a lock."""
    from concurrent.futures import ThreadPoolExecutor

    key = room(in_flight=5, per_minute=10_000)
    key.listed(listed(), NOW)

    def take(_: int) -> int | None:
        token, _wait = key.let_go("image", NOW)
        return token

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = [token for token in pool.map(take, range(400)) if token is not None]
    assert len(tokens) == 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(key.not_created, tokens))
    assert key.let_go("image", NOW)[0] is not None
