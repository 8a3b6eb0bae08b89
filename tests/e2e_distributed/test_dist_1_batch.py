"""
A batch of mapped image generations stored in S3, through a triggerer crash, a worker-host crash
and a PostgreSQL outage, judged by the emulator's counters, the database and the object store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import BATCH_CONCURRENCY, BUCKET, DAG_ENV
from luma_dist.batch import BATCH_DAG, run_batch_with_faults
from luma_dist.observe import earlier_tries, polls_per_generation, task_instances, triggerer_hostnames
from luma_e2e.processes import loopback_session

if TYPE_CHECKING:
    from luma_dist.batch import BatchRecord
    from luma_dist.cluster import CeleryWorkerHost, DistributedAirflow
    from luma_dist.servers import MotoS3Server, PostgresServer
    from luma_e2e.emulator import LumaEmulatorProcess

BATCH_SIZE = int(DAG_ENV["LUMA_DIST_BATCH_SIZE"])
POLL_INTERVAL = float(DAG_ENV["LUMA_DIST_POLL_INTERVAL"])
QUEUED_SECONDS, DREAMING_SECONDS = 1.0, (6.0, 10.0)


@pytest.fixture(scope="module")
def batch(
    cluster: tuple[DistributedAirflow, list[CeleryWorkerHost]],
    database: PostgresServer,
    emulator: LumaEmulatorProcess,
    summary: dict[str, Any],
) -> BatchRecord:
    """The batch run with its three faults (see ``luma_dist.batch``)."""
    stack, workers = cluster
    emulator.http.post(f"{emulator.root_url}/_emulator/reset", timeout=10).raise_for_status()
    emulator.configure(
        rate_limits=True,
        concurrency_limits={"image": BATCH_CONCURRENCY},
        creates_per_minute={"image": 150},
        queued_seconds=QUEUED_SECONDS,
        dreaming_seconds=list(DREAMING_SECONDS),
    )
    record = run_batch_with_faults(stack, workers, database, emulator, timeout=720)
    facts = summary["facts"]
    facts["batch timeline (s since trigger)"] = record.timeline
    facts["batch: components restarted after they exited"] = record.restarts or "none"
    assert record.triggers is not None
    hostnames = triggerer_hostnames(database)
    facts["batch: waits run per triggerer"] = {
        f"{hostnames.get(job, '?')} (job {job})": len(indexes)
        for job, indexes in sorted(record.triggers.triggers_by_triggerer().items())
    }
    facts["batch: trigger-table samples that failed (database down)"] = record.triggers.failed_samples
    return record


def _generations_of_batch(emulator: LumaEmulatorProcess) -> list[dict[str, Any]]:
    return [g for g in emulator.stats()["generations"] if "gouache" in (g["request"].get("prompt") or "")]


def test_a_every_image_is_made_once_and_stored_byte_identical_in_s3(
    batch: BatchRecord,
    cluster: tuple[DistributedAirflow, list[CeleryWorkerHost]],
    database: PostgresServer,
    emulator: LumaEmulatorProcess,
    s3: MotoS3Server,
) -> None:
    stack, _ = cluster
    assert batch.state == "success", batch.timeline
    tis = task_instances(database, BATCH_DAG, batch.run_id)
    assert len(tis) == BATCH_SIZE
    assert {ti["state"] for ti in tis} == {"success"}
    assert emulator.stats()["creates"] == BATCH_SIZE
    generations = {g["id"]: g for g in _generations_of_batch(emulator)}
    assert len(generations) == BATCH_SIZE
    objects = s3.objects("batch/")
    assert len(objects) == BATCH_SIZE, sorted(objects)
    http = loopback_session()
    stored_for = {}
    for ti in tis:
        generation_id = stack.api.xcom(BATCH_DAG, batch.run_id, "generate", "generation_id", ti["map_index"])
        path = stack.api.xcom(BATCH_DAG, batch.run_id, "generate", map_index=ti["map_index"])
        key = f"batch/{generation_id}.png"
        assert path in (f"s3://{BUCKET}/{key}", f"s3://aws_default@{BUCKET}/{key}")
        asset = http.get(generations[generation_id]["assets"]["image"], timeout=30)
        asset.raise_for_status()
        assert objects[key] == asset.content, key
        stored_for[ti["map_index"]] = generation_id
    assert len(set(stored_for.values())) == BATCH_SIZE


def test_a_both_triggerers_ran_some_of_the_waits(batch: BatchRecord, database: PostgresServer) -> None:
    assert batch.triggers is not None
    hostnames = triggerer_hostnames(database)
    per_host: dict[str, set[int]] = {}
    for job, indexes in batch.triggers.triggers_by_triggerer().items():
        per_host.setdefault(hostnames[job], set()).update(indexes)
    assert set(per_host) >= {"luma-triggerer-1", "luma-triggerer-2"}, per_host
    assert all(per_host[name] for name in ("luma-triggerer-1", "luma-triggerer-2"))


def test_b_tasks_of_the_dead_worker_were_retried_on_the_other_and_reattached(
    batch: BatchRecord, database: PostgresServer, emulator: LumaEmulatorProcess
) -> None:
    assert batch.tasks_on_killed_worker, batch.timeline
    final = {ti["map_index"]: ti for ti in task_instances(database, BATCH_DAG, batch.run_id)}
    tries: dict[int, list[dict[str, Any]]] = {}
    for row in earlier_tries(database, BATCH_DAG, batch.run_id):
        tries.setdefault(row["map_index"], []).append(row)
    for map_index in batch.tasks_on_killed_worker:
        ti = final[map_index]
        assert ti["state"] == "success"
        assert ti["try_number"] >= 2, ti
        assert ti["hostname"] == "luma-worker-2", ti
        assert any(row["hostname"] == batch.killed_worker for row in tries.get(map_index, [])), tries.get(
            map_index
        )
    # Re-attached, not paid again: still one create per image.
    assert emulator.stats()["creates"] == BATCH_SIZE


def test_c_the_dead_triggerers_waits_were_taken_over_and_none_polled_twice_as_often(
    batch: BatchRecord, database: PostgresServer, emulator: LumaEmulatorProcess
) -> None:
    assert batch.triggers is not None
    assert batch.killed_triggerer_job is not None
    held = batch.triggers_on_killed_triggerer
    assert held, batch.timeline
    final = {ti["map_index"]: ti for ti in task_instances(database, BATCH_DAG, batch.run_id)}
    assert {final[index]["state"] for index in held} == {"success"}
    taken_over = {
        map_index
        for _, _, triggerer_id, map_index in batch.triggers.seen
        if map_index in held and triggerer_id not in (None, batch.killed_triggerer_job)
    }
    assert taken_over, "no wait of the dead triggerer was seen on another triggerer"
    bound = (QUEUED_SECONDS + DREAMING_SECONDS[1]) / POLL_INTERVAL + 3
    polls = polls_per_generation(emulator.stats())
    over = {gid: count for gid, count in polls.items() if count > bound}
    assert not over, f"GETs per generation above {bound}: {over}"
    assert len(polls) == BATCH_SIZE


def test_d_the_run_outlived_a_database_outage_and_nothing_was_paid_twice(
    batch: BatchRecord, emulator: LumaEmulatorProcess
) -> None:
    events = [event for _, event in batch.timeline]
    assert "PostgreSQL stopped" in events
    assert "PostgreSQL started" in events
    assert events.index("PostgreSQL started") < events.index(f"run {batch.state}")
    assert batch.state == "success"
    stats = emulator.stats()
    assert stats["creates"] == BATCH_SIZE
    assert stats["answers"].get("POST 201", 0) == BATCH_SIZE
