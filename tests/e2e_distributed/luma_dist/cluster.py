"""
A distributed Airflow 3: api-server, scheduler, dag-processor and two triggerers on the core host
(PostgreSQL, CeleryExecutor on Redis), and Celery workers that each run on a host of their own.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
from typing import TYPE_CHECKING, Any

import psutil
from luma_e2e.processes import GiveUp, ManagedProcess, free_port, tail, wait_until
from luma_e2e.rest import AirflowApi
from luma_e2e.stack import AIRFLOW, PASSWORD, USERNAME, AirflowStack

if TYPE_CHECKING:
    from pathlib import Path

    from luma_dist.hosts import Topology

CORE_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer-1", "triggerer-2")
#: Task slots of each Celery worker.
WORKER_CONCURRENCY = 6


def crash(process: ManagedProcess) -> None:
    """
    SIGKILL a process, its group and every descendant at once, as when its host dies.

    :param process: the process.
    """
    descendants = process.descendants()
    process.kill_group(signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()
    process.popen.wait(timeout=10)


class DistributedAirflow(AirflowStack):
    """
    The core host's Airflow processes against PostgreSQL and Redis, with CeleryExecutor.

    Each triggerer gets a hostname of its own (a UTS namespace), so the ``job`` table tells them
    apart. Components that exit (PostgreSQL going away can end them) are started again by
    :meth:`restart_exited`, as a process supervisor would.

    :param home: the core's AIRFLOW_HOME.
    :param dag_files: DAG files linked into its DAGs folder.
    :param topology: where things run.
    :param database_url: SQLAlchemy URL of the metadata database.
    :param broker_url: the Celery broker.
    :param connections: ``{conn_id: connection as JSON-ready data}`` for every process.
    :param extra_env: more environment for every Airflow process, workers included.
    """

    def __init__(
        self,
        home: Path,
        dag_files: list[Path],
        topology: Topology,
        database_url: str,
        broker_url: str,
        connections: dict[str, dict[str, Any]],
        extra_env: dict[str, str],
    ) -> None:
        self.topology = topology
        address = topology.core_address
        conn_env = {
            f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in connections.items()
        }
        super().__init__(
            home,
            dag_files,
            connection=connections["luma_default"],
            extra_env={
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "64",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database_url}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                # A dead worker's unstarted tasks go back to the queue soon, not after a day.
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "120",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
                # A task whose worker died is failed (and retried) after 20 s without heartbeat.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                **conn_env,
                **extra_env,
            },
        )
        self.api_url = f"http://{address}:{self.api_port}"
        # Compiled modules are kept, as in a deployed Airflow (pip compiles at install; uv and
        # PYTHONDONTWRITEBYTECODE=1 here do not): otherwise every task process compiles each
        # module it imports, and the worker-slot figures measure compiling.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.update(
            {
                "PYTHONPYCACHEPREFIX": str(home / "bytecode"),
                "AIRFLOW__API__HOST": address,
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            }
        )
        self.api = AirflowApi(self.api_url, USERNAME, PASSWORD)
        self.restarts: list[str] = []

    def start_component(self, name: str) -> ManagedProcess:
        """
        Start (or start again) one core component: one of :data:`CORE_COMPONENTS`.

        :param name: the component, e.g. ``"triggerer-2"``.
        """
        command = "triggerer" if name.startswith("triggerer") else name
        argv = [AIRFLOW, command]
        env = self.env
        if command == "api-server":
            argv += ["--host", self.topology.core_address, "--port", str(self.api_port), "--workers", "1"]
        if command == "triggerer":
            hostname = f"luma-{name}"
            argv = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
            env = {**env, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        process = ManagedProcess(name, argv, env, self.process_logs / f"{name}.log", cwd=self.home)
        self.processes[name] = process
        return process

    def start(self, timeout: float = 180) -> None:
        """
        Migrate the database, start the core components, wait until they are healthy.

        :param timeout: the most seconds for the whole start.
        """
        from luma_e2e.rest import wait_for_api

        self.migrate()
        for name in CORE_COMPONENTS:
            self.start_component(name)
        wait_for_api(self.api, timeout=timeout)
        self.wait_healthy(timeout=timeout)

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health``; waiting ends at once if a component has exited."""
        try:
            self.check_processes()
        except AssertionError as exited:
            raise GiveUp(str(exited)) from None
        return dict(self.api.request("GET", "/monitor/health"))

    def restart_exited(self, keep_down: set[str]) -> None:
        """
        Start again every component that has exited, except those in ``keep_down``.

        :param keep_down: names of components killed on purpose.
        """
        for name, process in list(self.processes.items()):
            if name not in keep_down and not process.is_running():
                self.restarts.append(f"{name} (exit {process.popen.returncode})")
                self.start_component(name)


class CeleryWorkerHost:
    """
    ``airflow celery worker`` on a host of its own: its network namespace (when the topology has
    them), its hostname, its own AIRFLOW_HOME with a copy of the DAG files, its own working
    directory; nothing it writes is read by another process.

    :param index: 0 or 1.
    :param home: its AIRFLOW_HOME (created; apart from the core's).
    :param stack: the core, whose settings (database, broker, api-server) it shares.
    :param dag_files: DAG files copied into its DAGs folder.
    """

    def __init__(self, index: int, home: Path, stack: DistributedAirflow, dag_files: list[Path]) -> None:
        self.index = index
        self.hostname = f"luma-worker-{index + 1}"
        self.home = home
        self.stack = stack
        dags = home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
            shutil.copy(dag_file, dags / dag_file.name)
        self.env = {
            name: value
            for name, value in stack.env.items()
            if name != "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
        }
        self.env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "PYTHONPYCACHEPREFIX": str(home / "bytecode"),  # each host compiles its own
            }
        )
        self.log_path = home / "celery-worker.log"
        self.process: ManagedProcess | None = None

    def start(self, timeout: float = 120) -> None:
        """
        Start the worker and wait until Celery says it is ready.

        :param timeout: the most seconds to wait.
        """
        argv = [AIRFLOW, "celery", "worker", "--celery-hostname", f"{self.hostname}@{self.hostname}"]
        argv += ["--concurrency", str(WORKER_CONCURRENCY)]
        wrapped = self.stack.topology.worker_argv(self.index, self.hostname, argv)
        self.process = ManagedProcess(self.hostname, wrapped, self.env, self.log_path, cwd=self.home)
        ready = re.compile(rf"{re.escape(self.hostname)}@{re.escape(self.hostname)} ready")
        start = self.log_path.stat().st_size

        def is_ready() -> bool:
            assert self.process is not None
            if not self.process.is_running():
                raise GiveUp(f"{self.hostname} exited; end of its log:\n{self.log_tail()}")
            with self.log_path.open("rb") as log:
                log.seek(start)
                return bool(ready.search(log.read().decode(errors="replace")))

        wait_until(is_ready, timeout=timeout, what=f"{self.hostname} to be ready")

    def is_running(self) -> bool:
        """True while the worker's main process runs."""
        return self.process is not None and self.process.is_running()

    def crash(self) -> None:
        """SIGKILL the worker and every task process it runs (the host dies)."""
        assert self.process is not None
        crash(self.process)

    def stop(self) -> None:
        """Stop the worker (bounded)."""
        if self.process is not None:
            self.process.stop()

    def log_tail(self) -> str:
        """The end of the worker's log."""
        return tail(self.log_path, 40)
