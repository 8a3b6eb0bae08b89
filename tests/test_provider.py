"""The provider as Airflow sees it: entry point, provider info, connection type and form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_provider_luma import get_provider_info
from airflow_provider_luma.hooks.luma import LumaHook

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_provider_info_declares_the_connection_form():
    info = get_provider_info()
    (connection,) = info["connection-types"]
    assert connection["connection-type"] == "luma"
    assert connection["hook-class-name"] == "airflow_provider_luma.hooks.luma.LumaHook"
    assert connection["ui-field-behaviour"]["relabeling"]["password"] == "API key"
    assert "login" in connection["ui-field-behaviour"]["hidden-fields"]
    assert info["extra-links"] == ["airflow_provider_luma.operators.links.LumaGenerationLink"]


def test_hook_form_for_older_airflow_says_the_same():
    behaviour = LumaHook.get_ui_field_behaviour()
    info = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == info["hidden-fields"]
    assert behaviour["relabeling"] == info["relabeling"]


def test_airflow_cli_lists_the_provider_and_its_hook(airflow_db):
    providers = subprocess.run([AIRFLOW, "providers", "list"], capture_output=True, text=True, check=True)
    assert "airflow-provider-luma" in providers.stdout
    hooks = subprocess.run([AIRFLOW, "providers", "hooks"], capture_output=True, text=True, check=True)
    assert "luma" in hooks.stdout
    assert "LumaHook" in hooks.stdout
    links = subprocess.run([AIRFLOW, "providers", "links"], capture_output=True, text=True, check=True)
    assert "LumaGenerationLink" in links.stdout
