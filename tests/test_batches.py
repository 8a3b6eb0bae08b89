"""
Batches: many generations in one task, each paid once, under a cap on what is in flight.

A worker's path through ``dag.test()`` (which starts every task in a worker: it defers once on
Airflow 3.3, and runs the batch in the worker before that or when not deferrable), and the
triggerer's path (Airflow 3.3+) through the trigger harness of ``tests/test_generate_trigger.py``:
the items' records, a triggerer taking a batch over, a retry and a clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.adoption import created_at
from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.testing import FaultRule
from tests.conftest import plain_text, sync_dags_to_db
from tests.dags.luma_test_batch_dags import FIVE
from tests.on_triggerer import first_event, supervisor_comms
from tests.test_generate_trigger import is_task_success

LOG = logging.getLogger(__name__)

on_the_triggerer = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+"
)


def prompts_of(emulator) -> list[str]:
    return [generation["request"]["prompt"] for generation in emulator.generations]


# -- the worker's path (dag.test()) ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["deferrable", "worker"])
def test_a_batch_makes_every_item_once_in_order_under_its_cap(run_dag, emulator, read_logs, mode):
    result = run_dag(f"luma_test_batch_{mode}")
    assert result.state == "success", read_logs()[-3000:]
    urls = result.xcom("images")
    batch = result.xcom("images", "batch")
    assert (batch["total"], batch["succeeded"], batch["failed"]) == (5, 5, 0)
    by_id = {generation["id"]: generation for generation in emulator.generations}
    assert emulator.stats.creates == 5
    assert len(by_id) == 5
    for index, (item, url) in enumerate(zip(batch["items"], urls, strict=False)):
        generation = by_id[item["generation_id"]]
        wanted = FIVE[index] if isinstance(FIVE[index], str) else FIVE[index]["prompt"]
        assert (item["index"], item["state"], item["url"]) == (index, "completed", url)
        assert generation["request"]["prompt"] == wanted
        assert url == generation["assets"]["image"]
    # Defaults under the items' own parameters.
    assert by_id[batch["items"][0]["generation_id"]]["request"]["aspect_ratio"] == "16:9"
    assert by_id[batch["items"][1]["generation_id"]]["request"]["aspect_ratio"] == "1:1"
    assert 1 <= emulator.stats.max_in_flight <= 2


def test_failures_within_allowed_failures_succeed_and_beyond_fail_naming_the_items(
    run_dag, emulator, read_logs
):
    emulator.configure(blocked_words=["forbidden"])
    result = run_dag("luma_test_batch_failures")
    assert result.task_state("within") == "success"
    within = result.xcom("within", "batch")
    assert (within["succeeded"], within["failed"]) == (2, 1)
    failed = within["items"][1]
    assert (failed["state"], failed["failure"]) == ("failed", "Contains blacklisted words")
    assert result.xcom("within")[1] is None
    assert all(result.xcom("within")[::2])
    # 0.3 of 3 items rounds down to 0: the one failure is too many, and every item still ended.
    assert result.task_state("beyond") == "failed"
    assert result.xcom("beyond", "batch")["succeeded"] == 2
    logs = plain_text(read_logs())  # Airflow 3.0 prints the error in a rich traceback
    assert "1 of 3 Luma generations failed, more than allowed_failures allows (0): requests[1]" in logs
    assert "Contains blacklisted words" in logs
    assert emulator.stats.creates == 6
    # One line on the batch's progress, not every item's changes of state (those are at DEBUG).
    assert "3 of 3 items ended (2 completed, 1 failed)" in logs
    assert not re.search(r"requests\[\d\]: Luma generation \S+ is completed", logs)


def test_a_long_batch_says_how_far_it_is_now_and_then_not_at_every_item(caplog):
    from airflow_provider_luma.batch_flow import Progress
    from airflow_provider_luma.batches import ItemResult

    progress = Progress(4, LOG, every=3600.0)
    with caplog.at_level(logging.INFO, logger=LOG.name):
        for index, state in enumerate(("completed", "failed", "completed")):
            progress.ended(ItemResult(index, state))
        assert caplog.messages == []  # the last line (none yet) is not an hour old
        progress.every = 0.0
        progress.ended(ItemResult(3, "timeout"))
    assert caplog.messages == ["4 of 4 items ended (2 completed, 1 failed, 1 timeout)"]


def test_bad_input_fails_before_any_create_naming_the_item(run_dag, emulator, read_logs):
    result = run_dag("luma_test_batch_bad")
    logs = plain_text(read_logs())
    for task_id, named in (
        ("not_an_item", "'requests[1]': must be a prompt (a string) or a dict"),
        ("unknown", "'requests[1].duration': is not a parameter of image generations"),
        ("bad_value", "'requests[1].prompt': must be 3 to"),
    ):
        assert result.task_state(task_id) == "failed"
        assert named in logs
    assert emulator.stats.total_requests == 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"requests": []}, "'requests': is empty"),
        ({"requests": "a single prompt"}, "'requests': must be a list"),
        ({"requests": ["ok"], "max_in_flight": 41}, "'max_in_flight': must be a whole number from 1 to 40"),
        ({"requests": ["ok"], "creates_per_minute": 0}, "'creates_per_minute'"),
        ({"requests": ["ok"], "allowed_failures": 1.5}, "'allowed_failures'"),
        ({"requests": ["ok"], "allowed_failures": -1}, "'allowed_failures'"),
    ],
)
def test_bad_batch_options_are_refused_naming_them(kwargs, named):
    from airflow_provider_luma.batches import build_batch
    from airflow_provider_luma.operators.luma import LumaImageBatchOperator

    def build() -> None:
        operator = LumaImageBatchOperator(task_id="t", **kwargs)
        build_batch("image", operator.requests, operator.defaults())

    with pytest.raises(LumaValidationError, match=re.escape(named)):
        build()


def test_each_item_is_copied_under_its_generation_id(run_dag, dagbag, emulator, read_logs):
    if not AIRFLOW_V_3_1_PLUS:  # 3.0's dag.test() fails a task whose Asset outlet is not registered
        sync_dags_to_db(dagbag)
    result = run_dag("luma_test_batch_stored")
    assert result.state == "success", read_logs()[-3000:]
    paths = result.xcom("stored")
    batch = result.xcom("stored", "batch")
    assert len(set(paths)) == 3
    for item, path in zip(batch["items"], paths, strict=False):
        assert item["path"] == path
        local = Path(path.removeprefix("file://"))
        assert local.stem == item["generation_id"]
        assert local.stat().st_size > 0


def test_a_large_batchs_manifest_is_kept_in_object_storage_and_its_xcom_says_where(
    run_dag, dagbag, emulator, read_logs, monkeypatch
):
    import json

    from airflow_provider_luma import batches

    monkeypatch.setattr(batches, "MANIFEST_ITEMS_IN_XCOM", 2)  # the line, lowered for 3 items
    if not AIRFLOW_V_3_1_PLUS:  # 3.0's dag.test() fails a task whose Asset outlet is not registered
        sync_dags_to_db(dagbag)
    result = run_dag("luma_test_batch_stored")
    assert result.state == "success", read_logs()[-3000:]
    batch = result.xcom("stored", "batch")
    assert "items" not in batch
    assert (batch["total"], batch["succeeded"], batch["failed"]) == (3, 3, 0)
    where = batch["items_path"]
    assert where.startswith("file://")
    assert where.endswith(".json")
    kept = json.loads(Path(where.removeprefix("file://")).read_text())
    assert kept["total"] == 3
    assert [item["path"] for item in kept["items"]] == result.xcom("stored")
    assert f"is kept in {where}" in read_logs()


def test_requests_from_an_xcomarg_and_the_decorators(run_dag, emulator, read_logs):
    result = run_dag("luma_test_batch_from_xcom", {"requests": ["a blue teapot", {"prompt": "a red teapot"}]})
    assert result.state == "success", read_logs()[-3000:]
    assert len(result.xcom("images")) == 2
    assert len(result.xcom("decorated")) == 2
    assert len(result.xcom("videos")) == 2
    prompts = prompts_of(emulator)
    assert sorted(prompts) == sorted(
        [
            "a blue teapot",
            "a red teapot",
            "a green teapot",
            "a blue teapot",
            "a teapot pouring",
            "a teapot spinning",
        ]
    )


def test_a_lost_create_in_a_batch_is_found_not_paid_again(run_dag, emulator, read_logs):
    emulator.configure(
        faults=[FaultRule(route="POST /generations/image", kind="reset_after_create", times=1)]
    )
    result = run_dag("luma_test_batch_worker")
    assert result.state == "success", read_logs()[-3000:]
    assert emulator.stats.creates == 5
    ids = [item["generation_id"] for item in result.xcom("images", "batch")["items"]]
    assert len(set(ids)) == 5
    assert "adopting generation" in read_logs()


# -- the triggerer's path (Airflow 3.3+) ---------------------------------------------------------------


@pytest.fixture
def start(dagbag, emulator):
    from tests.test_generate_trigger import StartedRun

    emulator.configure(queued_seconds=0.1, dreaming_seconds=0.3)
    return lambda: StartedRun(dagbag.get_dag("luma_test_batch_start"))


def record_of(run: Any, task_id: str, index: int) -> Any:
    from airflow_provider_luma.records import RECORD_XCOM_KEY, item_key

    return run.xcom(task_id, item_key(RECORD_XCOM_KEY, index))


@on_the_triggerer
async def test_a_batch_starts_runs_and_ends_on_the_triggerer(start, emulator):
    run = start()
    assert is_task_success(await run.run("images"))
    urls = run.xcom("images")
    batch = run.xcom("images", "batch")
    assert batch["succeeded"] == 5
    assert urls == [item["url"] for item in batch["items"]]
    assert emulator.stats.creates == 5
    assert 1 <= emulator.stats.max_in_flight <= 2
    from airflow_provider_luma.records import RECORD_XCOM_KEY, ended_items_key

    completed = run.xcom("images", ended_items_key(RECORD_XCOM_KEY))  # kept once, as the batch ends
    for index, item in enumerate(batch["items"]):
        assert record_of(run, "images", index)["generation_id"] == item["generation_id"]
        assert completed[str(index)] == item["generation_id"]
    assert "mac" in completed


@on_the_triggerer
async def test_a_retry_runs_only_the_items_that_failed_and_a_clear_makes_all_anew(start, emulator):
    run = start()
    emulator.configure(blocked_words=["forbidden"])
    first = await run.run("some_fail")
    assert not is_task_success(first)  # it resumes on a worker to fail with the reasons
    assert [item["state"] for item in first.payload["items"]] == ["completed", "failed", "completed"]
    assert run.xcom("some_fail", "batch")["failed"] == 1
    kept = [item["generation_id"] for item in first.payload["items"]]
    emulator.configure(blocked_words=[])
    retried = await run.run("some_fail", try_number=2)
    assert is_task_success(retried)
    items = run.xcom("some_fail", "batch")["items"]
    assert [items[0]["generation_id"], items[2]["generation_id"]] == [kept[0], kept[2]]
    assert items[1]["generation_id"] != kept[1]
    assert items[1]["state"] == "completed"
    assert emulator.stats.creates == 4  # three, then only the failed one again
    cleared = await run.run("some_fail", try_number=3, clears=1)
    assert is_task_success(cleared)
    assert not {item["generation_id"] for item in run.xcom("some_fail", "batch")["items"]} & set(kept)
    assert emulator.stats.creates == 7


@on_the_triggerer
async def test_a_triggerer_taking_a_batch_over_pays_for_nothing_twice(start, emulator, read_logs):
    run = start()
    emulator.configure(queued_seconds=0.5, dreaming_seconds=2.0)
    with supervisor_comms(run.result.dag_run.id):
        trigger = run.trigger("videos")
        events = trigger.run()
        first = asyncio_task(events.__anext__())
        await wait_until(lambda: emulator.stats.creates == 2)
        first.cancel()  # the triggerer dies with both videos in flight
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await events.aclose()
        taken_over = await first_event(run.trigger("videos"))
    assert is_task_success(taken_over)
    assert emulator.stats.creates == 2
    assert sorted(item["generation_id"] for item in run.xcom("videos", "batch")["items"]) == sorted(
        generation["id"] for generation in emulator.generations
    )
    logs = read_logs()  # the takeover says once what it continues, not once per item
    assert "Continuing 2 items from the records of this try (a takeover): " in logs
    assert "Re-attaching" not in logs  # an item whose answer was recorded re-attaches at DEBUG


@on_the_triggerer
async def test_a_record_of_one_item_never_passes_for_another(start, emulator, read_logs):
    from airflow_provider_luma.records import RECORD_XCOM_KEY, item_key

    run = start()
    assert is_task_success(await run.run("videos"))
    first, second = (record_of(run, "videos", index) for index in (0, 1))
    # Item 1's record put where item 0's is: item 0 must not take item 1's generation.
    with supervisor_comms(run.result.dag_run.id):
        from airflow.providers.common.compat.sdk import XCom

        await XCom.aset(
            item_key(RECORD_XCOM_KEY, 0),
            second,
            dag_id="luma_test_batch_start",
            task_id="videos",
            run_id=run.run_id,
            map_index=-1,
        )
    assert is_task_success(await run.run("videos", try_number=2))
    items = run.xcom("videos", "batch")["items"]
    assert items[0]["generation_id"] not in (first["generation_id"], second["generation_id"])
    assert items[1]["generation_id"] == second["generation_id"]
    assert "Ignoring the stored Luma record of batch item 0" in read_logs()


@on_the_triggerer
async def test_a_takeover_never_gives_an_item_in_doubt_its_identical_twins_generation(start, emulator):
    """
    Items 0 and 2 are identical. The triggerer died after both were created, item 0's answer
    recorded and item 2's not: taking the batch over, item 2 looks for what its create made and
    must take its own generation, though item 0's is listed with the very same request and item 0
    has not re-attached yet (its first call is slow): item 0's record holds it.
    """
    from airflow_provider_luma.records import Record, RecordSeal
    from airflow_provider_luma.runs import TriggerRun

    run = start()
    assert is_task_success(await run.run("images"))
    ids = [item["generation_id"] for item in run.xcom("images", "batch")["items"]]
    trigger = run.trigger("images")
    attempt = TriggerRun.attempt_of(trigger.task_instance)
    seal = RecordSeal(emulator.api_key, attempt)
    twin = seal.open(record_of(run, "images", 0), LOG, item=0)
    assert twin is not None
    made_at = [created_at(g) for g in emulator.generations if g["id"] in (ids[0], ids[2])]
    in_doubt = Record.start(twin.request, attempt, twin.started_at).in_doubt(
        min(made_at) - 1, max(made_at) + 1
    )
    planted = {0: Record.start(twin.request, attempt, twin.started_at).made(ids[0]), 2: in_doubt}
    await plant_item_records(run, seal, planted)
    emulator.configure(
        faults=[FaultRule(route=f"GET /generations/{ids[0]}", kind="slow", delay=2.0, times=1)]
    )
    assert is_task_success(await run.run("images"))  # the same try: a takeover
    items = run.xcom("images", "batch")["items"]
    assert [item["generation_id"] for item in items] == ids
    assert emulator.stats.creates == 5


async def plant_item_records(run: Any, seal: Any, planted: dict[int, Any]) -> None:
    """Write sealed item records of task ``images``, as a triggerer killed mid-batch left them."""
    from airflow_provider_luma.records import RECORD_XCOM_KEY, item_key

    with supervisor_comms(run.result.dag_run.id):
        from airflow.providers.common.compat.sdk import XCom

        for index, record in planted.items():
            await XCom.aset(
                item_key(RECORD_XCOM_KEY, index),
                seal.seal(record, item=index),
                dag_id="luma_test_batch_start",
                task_id="images",
                run_id=run.run_id,
                map_index=-1,
            )


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer from Airflow 3.3")
@pytest.mark.parametrize("foreign", [False, True], ids=["own-twins", "a-third-identical"])
async def test_a_takeover_gives_identical_items_both_in_doubt_one_generation_each(start, emulator, foreign):
    """
    Items 0 and 2 are identical and the triggerer died before either create's answer was
    recorded: both look for what their creates made, and Luma lists two generations with their
    very request. Each takes one (nothing is paid twice, nothing fails). A third identical
    generation in the window (another run's identical request) leaves the evidence ambiguous:
    neither adopts, nothing is created.
    """
    from airflow_provider_luma.records import Record, RecordSeal
    from airflow_provider_luma.runs import TriggerRun

    run = start()
    assert is_task_success(await run.run("images"))
    ids = [item["generation_id"] for item in run.xcom("images", "batch")["items"]]
    trigger = run.trigger("images")
    attempt = TriggerRun.attempt_of(trigger.task_instance)
    seal = RecordSeal(emulator.api_key, attempt)
    twin = seal.open(record_of(run, "images", 0), LOG, item=0)
    assert twin is not None
    made_at = [created_at(g) for g in emulator.generations if g["id"] in (ids[0], ids[2])]
    fresh = Record.start(twin.request, attempt, twin.started_at)
    in_doubt = fresh.in_doubt(min(made_at) - 1, max(made_at) + 1)
    await plant_item_records(run, seal, {0: in_doubt, 2: in_doubt})
    if foreign:
        from airflow_provider_luma.hooks.luma import LumaHook

        LumaHook(luma_conn_id="luma_default").create_image(dict(twin.request.body))
        assert emulator.stats.creates == 6
    outcome = await run.run("images")  # the same try: a takeover
    if foreign:
        assert not is_task_success(outcome)
        assert emulator.stats.creates == 6
        return
    assert is_task_success(outcome)
    items = run.xcom("images", "batch")["items"]
    got = [item["generation_id"] for item in items]
    assert {got[0], got[2]} == {ids[0], ids[2]}
    assert got[1] == ids[1]
    assert got[3:] == ids[3:]
    assert emulator.stats.creates == 5


def asyncio_task(coroutine: Any) -> Any:
    return asyncio.ensure_future(coroutine)


async def wait_until(condition: Any, timeout: float = 20.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.05)


def test_the_batch_example_stores_every_shot_and_collects_them(run_dag, dagbag, emulator, read_logs):
    if not AIRFLOW_V_3_1_PLUS:  # 3.0's dag.test() fails a task whose Asset outlet is not registered
        sync_dags_to_db(dagbag)
    result = run_dag("example_luma_batch")
    assert result.state == "success", read_logs()[-3000:]
    paths = result.xcom("product_shots")
    assert len(paths) == 20
    assert all(paths)
    assert result.xcom("collect") == sorted(paths)
    assert emulator.stats.creates == 20
