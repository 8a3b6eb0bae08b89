"""
End-to-end harness: the provider in a running Airflow 3 (api-server, scheduler, dag-processor,
triggerer as separate processes; LocalExecutor; SQLite) against the Luma emulator.

Collected only with ``LUMA_E2E=1`` (``make e2e``): a plain ``pytest`` of ``tests/`` skips this
folder. The processes start once per session; everything they write stays in the session's
AIRFLOW_HOME (printed at the end), and the ends of their logs are printed when a test fails.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

E2E_ENABLED = os.environ.get("LUMA_E2E") == "1"
#: Without LUMA_E2E=1 nothing here is collected (and luma_e2e is never imported).
collect_ignore_glob = [] if E2E_ENABLED else ["*"]
HERE = Path(__file__).resolve().parent
if E2E_ENABLED:
    sys.path.insert(0, str(HERE))  # the luma_e2e helpers, whatever pytest's import mode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.scenarios import ImageRun
    from luma_e2e.stack import AirflowStack
    from playwright.sync_api import BrowserContext, Page

ROOT = HERE.parents[1]
EXAMPLE_DAG_FILES = sorted(ROOT.glob("example_dags/*.py"))
HARNESS_DAG_FILES = sorted(HERE.glob("dags/*.py"))
#: Where the session's AIRFLOW_HOME is, for the terminal summary.
_HOME_KEY = pytest.StashKey[Path]()
_EMULATOR_LOG_KEY = pytest.StashKey[Path]()
_FACTS_KEY = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """The session's throwaway AIRFLOW_HOME (kept after the run, like every pytest tmp dir)."""
    home = tmp_path_factory.mktemp("airflow_home")
    pytestconfig.stash[_HOME_KEY] = home
    return home


@pytest.fixture(scope="session")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[LumaEmulatorProcess]:
    """The Luma emulator as a separate process on a free loopback port (log outside AIRFLOW_HOME)."""
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.settings import API_KEY, DREAMING_SECONDS, QUEUED_SECONDS

    log_dir = tmp_path_factory.mktemp("luma_emulator")
    pytestconfig.stash[_EMULATOR_LOG_KEY] = log_dir / "luma-emulator.log"
    process = LumaEmulatorProcess(log_dir, API_KEY, QUEUED_SECONDS, DREAMING_SECONDS)
    try:
        yield process
    finally:
        process.process.stop()


@pytest.fixture(scope="session")
def stack(airflow_home: Path, emulator: LumaEmulatorProcess) -> Iterator[AirflowStack]:
    """Airflow's four processes, healthy, with every DAG file parsed; stopped at the end."""
    from luma_e2e.settings import API_KEY, E2E_OUTPUT_DIR, REVIEW_TIMEOUT_SECONDS
    from luma_e2e.stack import AirflowStack

    airflow = AirflowStack(
        airflow_home,
        dag_files=[*EXAMPLE_DAG_FILES, *HARNESS_DAG_FILES],
        connection={"conn_type": "luma", "password": API_KEY, "host": emulator.base_url},
        extra_env={
            "LUMA_EXAMPLE_POLL_INTERVAL": "1",
            "LUMA_EXAMPLE_OUTPUT_DIR": str(airflow_home / "example-output"),
            "LUMA_EXAMPLE_OUTPUT_URL": f"file://{airflow_home}/example-output/batch/",
            "LUMA_E2E_OUTPUT_DIR": str(airflow_home / E2E_OUTPUT_DIR),
            "LUMA_EXAMPLE_PUBLISH_URL": f"file://{airflow_home}/example-output/published/",
            "LUMA_EXAMPLE_REVIEW_TIMEOUT": str(REVIEW_TIMEOUT_SECONDS),
            # example_luma_agents.py: Luma's Agents API, served by the same emulator with the same key.
            "AIRFLOW_CONN_LUMA_AGENTS_DEFAULT": json.dumps(
                {"conn_type": "luma_agents", "password": API_KEY, "host": emulator.agents_base_url}
            ),
        },
    )
    try:
        airflow.start(timeout=180)
        # What example_luma_mapped.py asks users to create once: Luma's Photon concurrency as a pool
        # that deferred tasks keep holding.
        airflow.api.request(
            "POST", "/pools", json={"name": "luma_photon", "slots": 40, "include_deferred": True}
        )
        airflow.wait_for_dag_files(timeout=120)
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="session")
def facts(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Measurements the scenarios record (timings, counts), printed at the end of the run."""
    return pytestconfig.stash.setdefault(_FACTS_KEY, {})


@pytest.fixture(scope="session")
def observed_triggers() -> list[dict[str, Any]]:
    """Rows of the ``trigger`` table seen while tasks were deferred (rows vanish once they end)."""
    return []


@pytest.fixture(scope="session")
def image_run(
    stack: AirflowStack,
    emulator: LumaEmulatorProcess,
    observed_triggers: list[dict[str, Any]],
    facts: dict[str, Any],
) -> ImageRun:
    """
    Trigger the example image DAG through the REST API and watch its first task while deferred.

    Returns once the watching is done; the run goes on (tests wait for its end themselves).
    Nothing else runs meanwhile, so an idle LocalExecutor means idle for this run.
    """
    from luma_e2e.scenarios import ImageRun, observe_deferral
    from luma_e2e.settings import IMAGE_DAG

    stack.api.unpause(IMAGE_DAG)
    run_id = stack.api.trigger(IMAGE_DAG)
    deferral = observe_deferral(stack, emulator, IMAGE_DAG, run_id, "text_to_image")
    observed_triggers.extend(deferral.triggers)
    facts["deferred task: seconds until its worker let go"] = deferral.handoff_seconds
    facts["deferred task: process-table samples while deferred and dreaming"] = len(deferral.samples)
    return ImageRun(run_id, deferral)


@pytest.fixture(scope="session")
def example_runs(stack: AirflowStack, image_run: ImageRun) -> dict[str, dict[str, str]]:
    """
    One run of every DAG of every example file, ``{file name: {dag_id: run_id}}``.

    The image DAG's run is ``image_run``'s; the others are triggered together once it has been
    watched, and run alongside it.
    """
    from luma_e2e.settings import IMAGE_DAG

    runs: dict[str, dict[str, str]] = {}
    for file_name, dag_ids in stack.dag_ids_by_file().items():
        if file_name not in {path.name for path in EXAMPLE_DAG_FILES}:
            continue
        for dag_id in dag_ids:
            if dag_id == IMAGE_DAG:
                run_id = image_run.run_id
            else:
                stack.api.unpause(dag_id)
                run_id = stack.api.trigger(dag_id)
            runs.setdefault(file_name, {})[dag_id] = run_id
    return runs


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's headless chromium with a fresh profile, for the whole test module."""
    from luma_e2e.browser import open_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = open_browser(playwright, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def page(browser: BrowserContext, stack: AirflowStack) -> Page:
    """A page signed in as the admin user through the login form."""
    from luma_e2e.browser import log_in
    from luma_e2e.stack import PASSWORD, USERNAME

    page = browser.new_page()
    log_in(page, stack.api_url, USERNAME, PASSWORD)
    return page


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """Say where the logs are; on failure, print the end of every process log."""
    home = terminalreporter.config.stash.get(_HOME_KEY, None)
    if home is None:
        return
    terminalreporter.write_line(f"e2e AIRFLOW_HOME (logs, airflow.db): {home}")
    for name, value in terminalreporter.config.stash.get(_FACTS_KEY, {}).items():
        terminalreporter.write_line(f"e2e fact: {name}: {value}")
    if exitstatus != 0:
        from luma_e2e.processes import tail

        logs = sorted((home / "process-logs").glob("*.log"))
        logs.append(terminalreporter.config.stash.get(_EMULATOR_LOG_KEY, home))
        for log in logs:
            terminalreporter.write_sep("-", str(log))
            terminalreporter.write_line(tail(log, 40))
