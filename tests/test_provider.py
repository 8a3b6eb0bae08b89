"""The provider as Airflow sees it: entry point, provider info, connection type and form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_luma import get_provider_info
from airflow_provider_luma.hooks.luma import LumaAgentsHook, LumaHook
from tests.airflow_version import CONNECTION_FORM_READ

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_provider_info_declares_the_connection_form():
    info = get_provider_info()
    dream_machine, agents = info["connection-types"]
    assert dream_machine["connection-type"] == "luma"
    assert dream_machine["hook-class-name"] == "airflow_provider_luma.hooks.luma.LumaHook"
    assert agents["connection-type"] == "luma_agents"
    assert agents["hook-class-name"] == "airflow_provider_luma.hooks.luma.LumaAgentsHook"
    assert agents["ui-field-behaviour"]["placeholders"]["host"] == "https://agents.lumalabs.ai/v1"
    for connection in (dream_machine, agents):
        assert connection["ui-field-behaviour"]["relabeling"]["password"] == "API key"
        assert "login" in connection["ui-field-behaviour"]["hidden-fields"]
    assert info["extra-links"] == ["airflow_provider_luma.links.LumaGenerationLink"]


@pytest.mark.skipif(
    not CONNECTION_FORM_READ,
    reason="Airflow 3.0 and 3.1 build connection forms from hooks only with flask_appbuilder installed",
)
def test_airflow_shows_the_connection_form_the_provider_declares():
    """What Airflow's UI builds the form from, on this Airflow: provider info (3.2+) or the hook."""
    from airflow.providers_manager import ProvidersManager

    behaviour = ProvidersManager().field_behaviours["luma"]
    assert sorted(behaviour["hidden_fields"]) == ["login", "port", "schema"]  # extra: the key's limits
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL (optional)"}
    assert LumaHook.get_ui_field_behaviour()["hidden_fields"] == behaviour["hidden_fields"]
    agents = ProvidersManager().field_behaviours["luma_agents"]
    assert agents["placeholders"]["host"] == "https://agents.lumalabs.ai/v1"
    assert LumaAgentsHook.get_ui_field_behaviour()["placeholders"] == agents["placeholders"]


def test_airflow_cli_lists_the_provider_and_its_hook(airflow_db):
    providers = subprocess.run([AIRFLOW, "providers", "list"], capture_output=True, text=True, check=True)
    assert "airflow-provider-luma" in providers.stdout
    hooks = subprocess.run([AIRFLOW, "providers", "hooks"], capture_output=True, text=True, check=True)
    assert "luma" in hooks.stdout
    assert "LumaHook" in hooks.stdout
    assert "LumaAgentsHook" in hooks.stdout
    links = subprocess.run([AIRFLOW, "providers", "links"], capture_output=True, text=True, check=True)
    assert "LumaGenerationLink" in links.stdout
