"""
The running system under test: a Luma emulator and Airflow's api-server, scheduler, dag-processor
and triggerer as separate processes on loopback, sharing one throwaway AIRFLOW_HOME (SQLite,
LocalExecutor).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from luma_e2e.processes import ManagedProcess, clean_environ, free_port, loopback_session, wait_until
from luma_e2e.rest import AirflowApi, wait_for_api

VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
USERNAME = "e2e-admin"
PASSWORD = "e2e-admin-password"
#: Users of the simple auth manager, ``{name: (role, password)}``. Its roles all read every DAG;
#: a user with no role may read nothing, which is what the 403 checks use.
USERS = {
    USERNAME: ("admin", PASSWORD),
    "e2e-viewer": ("viewer", "e2e-viewer-password"),
    "e2e-no-role": ("", "e2e-no-role-password"),
}
#: Seconds without a triggerer heartbeat before its triggers go to another triggerer (default 30).
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10


def _fixed_secret(label: str) -> str:
    """A stable url-safe 32-byte secret (valid as a Fernet key) derived from ``label``."""
    return base64.urlsafe_b64encode(label.encode().ljust(32, b"-")[:32]).decode()


FERNET_KEY = _fixed_secret("luma-e2e-fernet")


class AirflowStack:
    """
    A throwaway AIRFLOW_HOME and the four Airflow 3 processes, started with ``start()``.

    :param home: the AIRFLOW_HOME (created; everything, logs included, stays there).
    :param dag_files: DAG files linked into the DAGs folder.
    :param connection: the ``luma_default`` connection, as JSON-ready data.
    :param extra_env: more environment for every Airflow process.
    """

    def __init__(
        self, home: Path, dag_files: list[Path], connection: dict[str, Any], extra_env: dict[str, str]
    ) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self.process_logs = home / "process-logs"
        self.db_path = home / "airflow.db"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.processes: dict[str, ManagedProcess] = {}
        self.env = self._environment(connection, extra_env)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
            (self.dags_folder / dag_file.name).symlink_to(dag_file)
        self.api = AirflowApi(self.api_url, USERNAME, PASSWORD)

    def _environment(self, connection: dict[str, Any], extra_env: dict[str, str]) -> dict[str, str]:
        """Everything the Airflow processes and CLI calls share: config, connection, PATH."""
        passwords_file = self.home / "simple_auth_manager_passwords.json"
        return {
            **clean_environ(),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{name}:{role}" for name, (role, _) in USERS.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": _fixed_secret("luma-e2e-api"),
            "AIRFLOW__API_AUTH__JWT_SECRET": _fixed_secret("luma-e2e-jwt"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
            # The DAG files never change during a session. Re-parsing them every 30 s (the default)
            # made the scheduler stall for up to ~30 s on SQLite locks now and then.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW_CONN_LUMA_DEFAULT": json.dumps(connection),
            **extra_env,
        }

    # -- life cycle -------------------------------------------------------------------------------

    def airflow(
        self, *args: str, timeout: float = 120, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """
        Run one ``airflow`` CLI command with the stack's environment; output is captured.

        :param args: the command's arguments, e.g. ``("providers", "list")``.
        :param timeout: the most seconds it may take.
        :param extra_env: environment overrides for this call only.
        """
        return subprocess.run(
            [AIRFLOW, *args],
            env={**self.env, **(extra_env or {})},
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        """``airflow db migrate`` and the simple auth manager's password file."""
        passwords = {name: password for name, (_, password) in USERS.items()}
        (self.home / "simple_auth_manager_passwords.json").write_text(json.dumps(passwords))
        result = self.airflow("db", "migrate", timeout=180)
        (self.process_logs / "db-migrate.log").parent.mkdir(parents=True, exist_ok=True)
        (self.process_logs / "db-migrate.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise AssertionError(
                f"airflow db migrate failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )

    def start_component(self, name: str) -> ManagedProcess:
        """
        Start (or start again) one Airflow component as ``airflow <name>``.

        :param name: one of :data:`COMPONENTS`.
        """
        argv = [AIRFLOW, name]
        env = self.env
        if name == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]
        process = ManagedProcess(name, argv, env, self.process_logs / f"{name}.log", cwd=self.home)
        self.processes[name] = process
        return process

    def start(self, timeout: float = 120) -> None:
        """
        Migrate, start every component, wait until the API answers and all components are healthy.

        :param timeout: the most seconds for the whole start.
        """
        self.migrate()
        for name in COMPONENTS:
            self.start_component(name)
        wait_for_api(self.api, timeout=timeout)
        self.wait_healthy(timeout=timeout)

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (no auth needed)."""
        self.check_processes()
        return dict(self.api.request("GET", "/monitor/health"))

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """
        Wait until the metadatabase, scheduler, triggerer and dag-processor all report healthy.

        :param timeout: the most seconds to wait.
        """

        def healthy() -> dict[str, Any] | None:
            report = self.health()
            states = {part: (info or {}).get("status") for part, info in report.items()}
            return report if states and all(state == "healthy" for state in states.values()) else None

        return wait_until(healthy, timeout=timeout, interval=1.0, what="all Airflow components to be healthy")

    def check_processes(self) -> None:
        """Raise (with the end of its log) if any component has exited."""
        for process in self.processes.values():
            process.check_running()

    def dag_ids_by_file(self) -> dict[str, list[str]]:
        """The DAG ids the api-server knows, per DAG file name."""
        by_file: dict[str, list[str]] = {}
        for dag in self.api.dags():
            by_file.setdefault(Path(dag["fileloc"]).name, []).append(dag["dag_id"])
        return by_file

    def wait_for_dag_files(self, timeout: float) -> dict[str, list[str]]:
        """
        Wait until every file of the DAGs folder is parsed: its DAGs serialized, or an import error.

        :param timeout: the most seconds to wait.
        """
        expected = {path.name for path in self.dags_folder.glob("*.py")}

        def all_parsed() -> dict[str, list[str]] | None:
            self.check_processes()
            by_file = self.dag_ids_by_file()
            failed = {Path(error["filename"]).name for error in self.api.import_errors()}
            return by_file if expected <= set(by_file) | failed else None

        return wait_until(all_parsed, timeout=timeout, interval=1.0, what=f"DAG files {sorted(expected)}")

    def stop(self) -> None:
        """Stop every component (process groups, bounded)."""
        for process in reversed(list(self.processes.values())):
            process.stop()

    def token_for(self, username: str) -> str:
        """
        A JWT of one of :data:`USERS`, from ``POST /auth/token``, for ``Authorization: Bearer``.

        :param username: the user.
        """
        response = loopback_session().post(
            f"{self.api_url}/auth/token",
            json={"username": username, "password": USERS[username][1]},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def log_files(self) -> list[Path]:
        """Every log file: task and triggerer logs under ``logs/`` and the process logs."""
        return sorted(
            path
            for folder in (self.home / "logs", self.process_logs)
            for path in folder.rglob("*")
            if path.is_file()
        )
