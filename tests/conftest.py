"""
The test environment: a throwaway AIRFLOW_HOME with a migrated SQLite database, a DAGs folder holding
the example DAGs and the test DAGs (``dag.test()`` only runs DAGs from the DAGs folder), and one
Luma emulator for the session that the ``luma_default`` connection points at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="luma-test-airflow-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
IMAGES_DIR = AIRFLOW_HOME / "images"
API_KEY = "sk-test-3f9c2a7e-do-not-log-me"

# Set before anything imports Airflow, which reads its configuration once.
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "LUMA_EXAMPLE_POLL_INTERVAL": "0.2",
        "LUMA_EXAMPLE_OUTPUT_DIR": str(IMAGES_DIR),
    }
)
DAGS_FOLDER.mkdir()
for dag_file in [*ROOT.glob("example_dags/*.py"), *ROOT.glob("tests/dags/*.py")]:
    (DAGS_FOLDER / dag_file.name).symlink_to(dag_file)

# Migrated before this process imports Airflow: an engine opened on the file first does not see
# the tables a migration in another process creates.
subprocess.run(
    [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
    check=True,
    capture_output=True,
    env=os.environ.copy(),
)

pytest_plugins = ["airflow_provider_luma.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The AIRFLOW_HOME whose SQLite metadata database was migrated when the tests started."""
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def session_emulator():
    """One emulator for the whole session; tests get it reset through ``emulator``."""
    from airflow_provider_luma.testing import EmulatorConfig, LumaEmulator

    with LumaEmulator(
        api_key=API_KEY, config=EmulatorConfig(queued_seconds=0.1, dreaming_seconds=0.4)
    ) as emu:
        yield emu


@pytest.fixture
def emulator(session_emulator, monkeypatch):
    """The session's emulator, reset, with ``luma_default`` pointing at it."""
    session_emulator.reset()
    session_emulator.configure(queued_seconds=0.1, dreaming_seconds=0.4, faults=[])
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMA_DEFAULT",
        json.dumps({"conn_type": "luma", "password": API_KEY, "host": session_emulator.base_url}),
    )
    return session_emulator


def logs(capfd) -> str:
    """Everything the test printed so far: Airflow logs to stdout through structlog, not to caplog."""
    out, err = capfd.readouterr()
    capfd.luma_seen = getattr(capfd, "luma_seen", "") + out + err
    return capfd.luma_seen


class DagRunResult:
    """What a ``dag.test()`` run left behind: task states and XComs, read from the metadata DB."""

    def __init__(self, dag_run) -> None:
        self.dag_run = dag_run
        self.state = str(dag_run.state)

    def task_state(self, task_id: str) -> str:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            states = session.scalars(
                select(TaskInstance.state).where(
                    TaskInstance.dag_id == self.dag_run.dag_id,
                    TaskInstance.run_id == self.dag_run.run_id,
                    TaskInstance.task_id == task_id,
                )
            ).all()
        return ",".join(str(s) for s in states)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1):
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.execute(
                select(XComModel.value).where(
                    XComModel.dag_id == self.dag_run.dag_id,
                    XComModel.run_id == self.dag_run.run_id,
                    XComModel.task_id == task_id,
                    XComModel.key == key,
                    XComModel.map_index == map_index,
                )
            ).first()
        return None if row is None else XComModel.deserialize_value(row)

    def all_xcom_values(self) -> list:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.execute(
                select(XComModel.value).where(
                    XComModel.dag_id == self.dag_run.dag_id, XComModel.run_id == self.dag_run.run_id
                )
            ).all()
        return [XComModel.deserialize_value(row) for row in rows]


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """Every DAG of the DAGs folder (examples and test DAGs), parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag


@pytest.fixture
def run_dag(dagbag, emulator):
    """Run a DAG of the DAGs folder with ``dag.test()`` against the emulator."""

    def run(dag_id: str, conf: dict | None = None) -> DagRunResult:
        return DagRunResult(dagbag.get_dag(dag_id).test(run_conf=conf))

    return run
