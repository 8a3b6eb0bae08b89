"""
What the distributed harness reads while a batch runs: the metadata database (PostgreSQL), the
process table (task processes and their lifetimes) and the emulator's per-request counters.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from luma_dist.servers import PostgresServer

#: Title Airflow 3 gives a task process: ``airflow worker -- <task instance uuid>``.
TASK_PROCESS_PREFIX = "airflow worker -- "


def rows(db: PostgresServer, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """
    Run a SELECT on Airflow's database; rows as dicts.

    :param db: the server.
    :param sql: the query.
    :param params: its parameters.
    """
    conn = db.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
    finally:
        conn.close()


def task_instances(db: PostgresServer, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """
    The task instances of one run (mapped ones included), with their latest try.

    :param db: the server.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    return rows(
        db,
        "SELECT id::text AS id, task_id, map_index, state, try_number, hostname, start_date, end_date,"
        " queued_dttm, trigger_id FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY map_index",
        (dag_id, run_id),
    )


def earlier_tries(db: PostgresServer, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """
    The earlier tries of a run's task instances (``task_instance_history``).

    :param db: the server.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    return rows(
        db,
        "SELECT map_index, try_number, state, hostname FROM task_instance_history"
        " WHERE dag_id = %s AND run_id = %s ORDER BY map_index, try_number",
        (dag_id, run_id),
    )


def triggerer_hostnames(db: PostgresServer) -> dict[int, str]:
    """``{job id: hostname}`` of every triggerer job that ever ran."""
    return {
        row["id"]: row["hostname"]
        for row in rows(db, "SELECT id, hostname FROM job WHERE job_type = 'TriggererJob'")
    }


def trigger_assignments(db: PostgresServer, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """
    The run's live triggers now: which task (map index) each waits for, and which triggerer runs it.

    :param db: the server.
    :param dag_id: the DAG.
    :param run_id: the run.
    """
    return rows(
        db,
        "SELECT t.id AS trigger_id, t.triggerer_id, ti.map_index FROM trigger t"
        " JOIN task_instance ti ON ti.trigger_id = t.id WHERE ti.dag_id = %s AND ti.run_id = %s",
        (dag_id, run_id),
    )


@dataclass
class TriggerWatch:
    """
    A thread sampling the trigger table every ``interval`` s (errors, e.g. the database being
    down, are counted and skipped).

    :param db: the server.
    :param dag_id: the DAG.
    :param run_id: the run.
    :param interval: seconds between samples.
    """

    db: PostgresServer
    dag_id: str
    run_id: str
    interval: float = 0.5
    #: ``(monotonic time, trigger id, triggerer job id, map index)`` for every row seen.
    seen: list[tuple[float, int, int | None, int]] = field(default_factory=list)
    failed_samples: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trigger-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sample = trigger_assignments(self.db, self.dag_id, self.run_id)
            except Exception:
                self.failed_samples += 1
                continue
            now = time.monotonic()
            self.seen.extend((now, r["trigger_id"], r["triggerer_id"], r["map_index"]) for r in sample)

    def triggers_by_triggerer(self) -> dict[int, set[int]]:
        """``{triggerer job id: map indexes whose wait it ran}`` over the whole watch."""
        found: dict[int, set[int]] = {}
        for _, _, triggerer_id, map_index in self.seen:
            if triggerer_id is not None:
                found.setdefault(triggerer_id, set()).add(map_index)
        return found

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class TaskProcessWatch:
    """
    A thread sampling the process table every ``interval`` s for Airflow task processes.

    A task process is what holds a worker slot (its Celery child waits for it). Its life is taken
    from its start time (exact) to the last sample that saw it (up to ``interval`` short).

    :param interval: seconds between samples.
    """

    interval: float = 0.1
    #: ``{pid: [task instance id, start (epoch s), last seen (epoch s)]}``.
    processes: dict[int, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-process-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.time()
            for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
                with contextlib.suppress(psutil.Error):
                    title = " ".join(proc.info["cmdline"] or ())
                    if title.startswith(TASK_PROCESS_PREFIX):
                        entry = self.processes.setdefault(
                            proc.info["pid"],
                            [title[len(TASK_PROCESS_PREFIX) :].strip(), proc.info["create_time"], now],
                        )
                        entry[2] = now

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=10)

    def per_task_instance(self, ti_ids: set[str]) -> dict[str, list[float]]:
        """
        ``{task instance id: [seconds each of its task processes lived]}`` for the given ids.

        :param ti_ids: task instance UUIDs.
        """
        found: dict[str, list[float]] = {}
        for ti_id, started, last_seen in self.processes.values():
            if ti_id in ti_ids:
                found.setdefault(ti_id, []).append(max(0.0, last_seen - started))
        return found


def polls_per_generation(stats: dict[str, Any]) -> dict[str, int]:
    """
    ``{generation id: GET /generations/{id} requests}`` from the emulator's counters.

    :param stats: ``GET /_emulator/stats``.
    """
    prefix = "GET /generations/"
    return {
        key[len(prefix) :]: count
        for key, count in stats["requests_by_path"].items()
        if key.startswith(prefix) and "/" not in key[len(prefix) :]
    }
