"""
The test environment: a throwaway AIRFLOW_HOME with a migrated SQLite database, a DAGs folder holding
the example DAGs and the test DAGs (``dag.test()`` only runs DAGs from the DAGs folder), and one
Luma emulator for the session that the ``luma_default`` connection points at.
"""

from __future__ import annotations

import functools
import json
import os
import re
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
        "LUMA_EXAMPLE_OUTPUT_URL": f"file://{IMAGES_DIR}/stored/",
        "LUMA_EXAMPLE_PUBLISH_URL": f"file://{AIRFLOW_HOME}/published/",
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

# Folders whose tests never import or run Airflow (the emulator's own tests, over HTTP): every test
# in them is marked airflow_agnostic, as a module elsewhere is by ``pytestmark``. They run on
# Airflow 3.3 with Python 3.13 (make unit) and 2.11 with 3.10 (make unit-airflow2), which span the
# Pythons; make unit-airflow3.N leaves them out (-m "not slow and not airflow_agnostic").
AIRFLOW_AGNOSTIC_FOLDERS = [ROOT / "tests" / "emulator"]


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()
        if any(path.is_relative_to(folder) for folder in AIRFLOW_AGNOSTIC_FOLDERS):
            item.add_marker(pytest.mark.airflow_agnostic)


@pytest.fixture(scope="session", autouse=True)
def one_in_process_execution_api():
    """
    ``dag.test()`` on Airflow 3.0-3.2 builds a new in-process Execution API app (its versioned
    routes generated anew, seconds of CPU) for every task it runs and every trigger it runs inline;
    Airflow 3.3 builds it once per process (``functools.lru_cache`` on ``in_process_api_server``).
    The tests do as 3.3 does on the older ones: the same tasks, a third of the time (3.2's suite).
    """
    try:
        from airflow.sdk.execution_time import supervisor
    except ImportError:  # Airflow 2
        return
    build = supervisor.in_process_api_server
    if not hasattr(build, "cache_info"):  # Airflow 3.3 caches it already
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(build)


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
    """The session's emulator, reset, with ``luma_default`` and ``luma_agents_default`` pointing at it."""
    from airflow_provider_luma import key_limits

    session_emulator.reset()
    # A reset emulator is a fresh account: what this process knew of the key's creates goes too.
    key_limits._ROOMS.clear()
    session_emulator.configure(queued_seconds=0.1, dreaming_seconds=0.4, faults=[])
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMA_DEFAULT",
        json.dumps({"conn_type": "luma", "password": API_KEY, "host": session_emulator.base_url}),
    )
    # The same emulator (one key) serves the Agents API too: luma_agents_default points at it.
    monkeypatch.setenv(
        "AIRFLOW_CONN_LUMA_AGENTS_DEFAULT",
        json.dumps(
            {"conn_type": "luma_agents", "password": API_KEY, "host": session_emulator.agents_base_url}
        ),
    )
    # For test DAGs that steer the emulator through its control routes.
    monkeypatch.setenv("LUMA_EMULATOR_CONTROL_TOKEN", session_emulator.control_token)
    return session_emulator


@pytest.fixture
def read_logs(capfd, caplog):
    """
    Everything logged or printed so far in the test, whatever route it took.

    Airflow 3 prints through structlog (stdout), Airflow 2 and the task SDK also log through the
    standard library (caplog): a secret or a message is searched for in both.
    """
    seen: list[str] = []

    def read() -> str:
        out, err = capfd.readouterr()
        seen.append(out + err)
        return "".join(seen) + caplog.text

    return read


def plain_text(text: str) -> str:
    """
    ``text`` without terminal colours and rich's box borders, every run of blanks one space: where
    to look for a task's error message, which Airflow 3.0 prints in a rich traceback (in colour,
    boxed, wrapped at any blank).

    :param text: printed output.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"[\u2500-\u257f]", " ", text)  # box drawing: borders of rich's tracebacks
    return " ".join(text.split())


def without_mask_secret_requests(text: str) -> str:
    """
    ``text`` without the lines in which Airflow 3.0's ``dag.test()`` prints the Task SDK's
    ``MaskSecret`` requests, the secret in them (Airflow's own debug lines; every other line is
    searched for a leaked key all the same). Elsewhere ``text`` as it is.

    :param text: printed output.
    """
    from tests.airflow_version import DAG_TEST_PRINTS_MASK_SECRET

    if not DAG_TEST_PRINTS_MASK_SECRET:
        return text
    return "\n".join(line for line in text.splitlines() if "MaskSecret" not in line)


class DagRunResult:
    """What a ``dag.test()`` run left behind: task states and XComs, read from the metadata DB."""

    def __init__(self, dag_run) -> None:
        self.dag_run = dag_run
        self.state = str(dag_run.state)

    def task_state(self, task_id: str) -> str:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            instances = session.query(TaskInstance).filter_by(
                dag_id=self.dag_run.dag_id, run_id=self.dag_run.run_id, task_id=task_id
            )
            return ",".join(str(ti.state) for ti in instances)

    def _xcom_values(self, **filters) -> list:
        from airflow.utils.session import create_session

        try:
            from airflow.models.xcom import XComModel as model  # Airflow 3

            def value(row):
                return model.deserialize_value(row)
        except ImportError:
            from airflow.models.xcom import XCom as model  # Airflow 2: rows deserialize on load

            def value(row):
                return row.value

        with create_session() as session:
            run = {"dag_id": self.dag_run.dag_id, "run_id": self.dag_run.run_id}
            return [value(row) for row in session.query(model).filter_by(**run, **filters)]

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1):
        values = self._xcom_values(task_id=task_id, key=key, map_index=map_index)
        return values[0] if values else None

    def all_xcom_values(self) -> list:
        return self._xcom_values()


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """Every DAG of the DAGs folder (examples and test DAGs), parsed once."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3

        bag = DagBag(dag_folder=str(DAGS_FOLDER))
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2

        bag = DagBag(dag_folder=str(DAGS_FOLDER), include_examples=False)
    assert not bag.import_errors, bag.import_errors
    return bag


@pytest.fixture
def run_dag(dagbag, emulator):
    """Run a DAG of the DAGs folder with ``dag.test()`` against the emulator."""

    def run(dag_id: str, conf: dict | None = None) -> DagRunResult:
        return DagRunResult(dagbag.get_dag(dag_id).test(run_conf=conf))

    return run


def sync_dags_to_db(dagbag) -> None:
    """Register every DAG as the DAG processor would, so asset consumers and outlets are known."""
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    bundle = {"bundle_name": "dags-folder", "bundle_version": None}
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db  # Airflow 3.2+
    except ImportError:
        try:
            from airflow.models.dagbag import sync_bag_to_db  # Airflow 3.1
        except ImportError:  # Airflow 3.0 (a method with the bundle), Airflow 2 (without)
            if AIRFLOW_V_3_0_PLUS:
                from airflow.dag_processing.bundles.manager import DagBundlesManager

                DagBundlesManager().sync_bundles_to_db()  # the bundle row the DAGs refer to
                dagbag.sync_to_db(**bundle)
            else:
                dagbag.sync_to_db()
            return
    sync_bag_to_db(dagbag, **bundle)
