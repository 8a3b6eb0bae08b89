"""
What the harness reads besides the REST API: the process table, the SQLite metadata database and
the log files.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil
from PIL import Image

from luma_e2e.processes import loopback_session

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

#: Title of an idle LocalExecutor worker; a busy one ends with the task instance's UUID instead.
IDLE_WORKER_TITLE = "airflow worker -- LocalExecutor: <idle>"
WORKER_TITLE_PREFIX = "airflow worker -- LocalExecutor:"


# -- processes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    """
    One process of the stack: its id, process group and title (setproctitle rewrites argv).

    :param pid: process id.
    :param pgid: process group id.
    :param title: the command line as the process table shows it.
    """

    pid: int
    pgid: int
    title: str


def stack_processes(roots: Iterable[int]) -> list[ProcessInfo]:
    """
    Every live process of the stack: the components, all their descendants, and their groups.

    Descendants matter: Airflow's task supervisor puts each task process in a process group of
    its own, so a scan by process group alone would miss it.

    :param roots: the components' process ids (each also leads its own process group).
    """
    roots = set(roots)
    candidates: dict[int, psutil.Process] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            candidates[pid] = root
            candidates.update((child.pid, child) for child in root.children(recursive=True))
    for proc in psutil.process_iter():
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if os.getpgid(proc.pid) in roots:
                candidates.setdefault(proc.pid, proc)
    found = []
    for pid, proc in sorted(candidates.items()):
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(ProcessInfo(pid, os.getpgid(pid), " ".join(proc.cmdline()).strip()))
    return found


def processes_running(ti_id: str, processes: Iterable[ProcessInfo]) -> list[ProcessInfo]:
    """
    The processes working on one task instance.

    Airflow 3 titles the LocalExecutor worker that supervises a task
    ``airflow worker -- LocalExecutor: <ti uuid>`` and the task process it forks
    ``airflow worker -- <ti uuid>``; nothing else carries the task instance's UUID.

    :param ti_id: the task instance's UUID (``id`` in the REST API).
    :param processes: from :func:`stack_processes`.
    """
    return [proc for proc in processes if ti_id in proc.title]


def busy_executor_workers(processes: Iterable[ProcessInfo]) -> list[ProcessInfo]:
    """
    LocalExecutor worker processes that are not idle.

    :param processes: from :func:`stack_processes`.
    """
    return [
        proc
        for proc in processes
        if proc.title.startswith(WORKER_TITLE_PREFIX) and not proc.title.startswith(IDLE_WORKER_TITLE)
    ]


#: How often :class:`TaskProcessCount` looks at the process table.
SAMPLE_SECONDS = 0.1


class TaskProcessCount:
    """
    A thread counting, every 0.1 s, the task processes (not their supervisors) of some task instances.

    :param roots: the stack's component process ids.
    :param ti_ids: ``{task id: task instance UUID}``.
    """

    def __init__(self, roots: Iterable[int], ti_ids: dict[str, str]) -> None:
        self.roots = list(roots)
        self.ti_ids = ti_ids
        self.pids: dict[str, set[int]] = {task_id: set() for task_id in ti_ids}
        self.samples: dict[int, int] = {}  # task process -> samples it was seen in
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            processes = stack_processes(self.roots)
            for task_id, ti_id in self.ti_ids.items():
                for proc in processes_running(ti_id, processes):
                    if not proc.title.startswith(WORKER_TITLE_PREFIX):
                        self.pids[task_id].add(proc.pid)
                        self.samples[proc.pid] = self.samples.get(proc.pid, 0) + 1

    def stop(self) -> dict[str, int]:
        """Stop sampling; ``{task id: task processes seen}``."""
        self._stop.set()
        self._thread.join(timeout=10)
        return {task_id: len(pids) for task_id, pids in self.pids.items()}

    def seconds(self) -> float:
        """Seconds the task processes seen were alive in all, by the samples (after :meth:`stop`)."""
        return round(sum(self.samples.values()) * SAMPLE_SECONDS, 1)


# -- metadata database ----------------------------------------------------------------------------


def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """
    Read rows from the Airflow SQLite database (read-only connection, waits on locks).

    :param db_path: the ``airflow.db`` file.
    :param sql: a SELECT.
    :param params: its parameters.
    """
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def decrypt_trigger_kwargs(stored: str, fernet_key: str) -> str:
    """
    The plain JSON of a ``trigger.kwargs`` column (Airflow encrypts it with the Fernet key).

    :param stored: the column's value.
    :param fernet_key: ``[core] fernet_key`` of the stack.
    """
    if stored.startswith("{"):
        return stored
    from cryptography.fernet import Fernet

    return Fernet(fernet_key.encode()).decrypt(stored.encode()).decode()


def trigger_rows(db_path: Path, fernet_key: str) -> list[dict[str, Any]]:
    """
    Every row of the ``trigger`` table with its kwargs decrypted (``kwargs_json``) and raw.

    :param db_path: the ``airflow.db`` file.
    :param fernet_key: ``[core] fernet_key`` of the stack.
    """
    rows = query(db_path, "SELECT id, classpath, kwargs, triggerer_id FROM trigger")
    return [
        {
            "id": row["id"],
            "classpath": row["classpath"],
            "triggerer_id": row["triggerer_id"],
            "kwargs_raw": row["kwargs"],
            "kwargs_json": decrypt_trigger_kwargs(row["kwargs"], fernet_key),
        }
        for row in rows
    ]


def table_text(db_path: Path, table: str) -> str:
    """
    Every row of one table rendered as text, for searching.

    :param db_path: the ``airflow.db`` file.
    :param table: the table name.
    """
    return "\n".join(
        json.dumps([str(v) for v in tuple(row)]) for row in query(db_path, f"SELECT * FROM {table}")
    )


def whole_database_text(db_path: Path) -> str:
    """
    The whole database as SQL text (``iterdump``), for searching.

    :param db_path: the ``airflow.db`` file.
    """
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


# -- assets ---------------------------------------------------------------------------------------


def download_image(url: str) -> Image.Image:
    """
    Fetch ``url`` and decode it fully with Pillow (a truncated or fake file raises).

    :param url: an asset URL from XCom.
    """
    with loopback_session() as session:
        response = session.get(url, timeout=30)
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


# -- logs -----------------------------------------------------------------------------------------


def files_containing(paths: Iterable[Path], needle: str) -> list[Path]:
    """
    The files whose bytes contain ``needle``.

    :param paths: files to search.
    :param needle: the text to look for.
    """
    raw = needle.encode()
    return [path for path in paths if raw in path.read_bytes()]
