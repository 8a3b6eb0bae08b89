"""The provider as a running Airflow sees it: components, DAG parsing, CLI, connections."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from luma_e2e.settings import API_KEY, WRONG_API_KEY

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.stack import AirflowStack


def test_every_component_is_healthy_and_every_dag_file_imports(stack: AirflowStack) -> None:
    report = stack.wait_healthy(timeout=60)
    assert {"metadatabase", "scheduler", "triggerer", "dag_processor"} <= set(report)
    assert stack.api.import_errors() == []
    by_file = stack.dag_ids_by_file()
    assert "example_luma_image" in by_file["example_luma_image.py"]
    assert set(by_file["e2e_luma_dags.py"]) == {
        "e2e_luma_mapped",
        "e2e_luma_batch",
        "e2e_luma_worker_mode",
        "e2e_luma_worker_crash",
    }
    assert set(by_file["e2e_luma_reroll_dags.py"]) == {
        "e2e_luma_reroll_url",
        "e2e_luma_reroll_stored",
        "e2e_luma_reroll_retried",
    }


def test_airflow_providers_list_and_hooks_show_the_provider(stack: AirflowStack) -> None:
    providers = stack.airflow("providers", "list", "--output", "json")
    assert providers.returncode == 0, providers.stderr
    listed = {entry["package_name"]: entry for entry in json.loads(providers.stdout)}
    assert listed["airflow-provider-luma"]["version"] == "0.1.0"

    hooks = stack.airflow("providers", "hooks", "--output", "json")
    assert hooks.returncode == 0, hooks.stderr
    luma = [entry for entry in json.loads(hooks.stdout) if entry["connection_type"] == "luma"]
    assert luma, hooks.stdout[-2000:]
    assert luma[0]["class"] == "airflow_provider_luma.hooks.luma.LumaHook"
    assert luma[0]["package_name"] == "airflow-provider-luma"


def test_connections_add_and_test_against_the_emulator(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    added = stack.airflow(
        "connections",
        "add",
        "luma_cli",
        "--conn-type",
        "luma",
        "--conn-host",
        emulator.base_url,
        "--conn-password",
        API_KEY,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Successfully added" in added.stdout
    assert API_KEY not in added.stdout + added.stderr

    stored = stack.airflow("connections", "get", "luma_cli", "--output", "json")
    assert stored.returncode == 0, stored.stderr
    (connection,) = json.loads(stored.stdout)
    assert connection["conn_type"] == "luma"
    assert connection["host"] == emulator.base_url

    pings_before = emulator.stats()["requests"].get("GET /ping", 0)
    for conn_id in ("luma_default", "luma_cli"):  # from the environment, from the database
        tested = stack.airflow("connections", "test", conn_id)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "Connection success!" in tested.stdout
    assert emulator.stats()["requests"].get("GET /ping", 0) == pings_before + 2
    # The Agents API's connection type: it has no /ping, so one page of files is read.
    files_before = emulator.stats()["requests"].get("GET /agents/v1/files", 0)
    tested = stack.airflow("connections", "test", "luma_agents_default")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Connection success!" in tested.stdout
    assert emulator.stats()["requests"].get("GET /agents/v1/files", 0) == files_before + 1


def test_connections_test_fails_clearly_with_a_wrong_key(
    stack: AirflowStack, emulator: LumaEmulatorProcess
) -> None:
    wrong = json.dumps({"conn_type": "luma", "password": WRONG_API_KEY, "host": emulator.base_url})
    tested = stack.airflow("connections", "test", "luma_wrong", extra_env={"AIRFLOW_CONN_LUMA_WRONG": wrong})
    output = tested.stdout + tested.stderr
    assert tested.returncode == 1, output
    assert "Connection failed!" in output
    assert "401" in output, output
    assert "luma_wrong" in output, output  # names the connection to fix
    assert WRONG_API_KEY not in output
