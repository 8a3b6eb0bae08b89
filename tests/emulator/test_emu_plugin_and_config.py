"""The pytest plugin's fixtures, ``connection_env``, and the settings objects."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from airflow_provider_luma.testing import EmulatorConfig, FaultRule, LumaEmulator, connection_env


def test_luma_emulator_fixture(luma_emulator):
    assert luma_emulator.running
    assert luma_emulator.api_key == "test-key"
    assert luma_emulator.config.queued_seconds == 0.1
    assert luma_emulator.config.dreaming_seconds == 0.5
    answer = requests.get(
        luma_emulator.base_url + "/ping", headers={"Authorization": "Bearer test-key"}, timeout=10
    )
    assert answer.status_code == 200


def test_luma_emulator_session_fixture(luma_emulator_session):
    assert luma_emulator_session.running
    assert luma_emulator_session.base_url.endswith("/dream-machine/v1")


def test_luma_connection_env_fixture(luma_connection_env, luma_emulator):
    value = os.environ["AIRFLOW_CONN_LUMA_DEFAULT"]
    assert luma_connection_env == {"AIRFLOW_CONN_LUMA_DEFAULT": value}
    assert json.loads(value) == {"conn_type": "luma", "password": "test-key", "host": luma_emulator.base_url}


def test_connection_env_names_the_connection(emu):
    env = connection_env(emu, conn_id="luma_staging")
    assert list(env) == ["AIRFLOW_CONN_LUMA_STAGING"]
    assert json.loads(env["AIRFLOW_CONN_LUMA_STAGING"])["host"] == emu.base_url


def test_emulator_lifecycle_and_addresses():
    emulator = LumaEmulator(api_key="k", host="127.0.0.1", port=0)
    assert not emulator.running
    with emulator as started:
        assert started is emulator
        assert emulator.port > 0
        assert emulator.url == f"http://127.0.0.1:{emulator.port}"
        assert "k" not in repr(emulator).replace("LumaEmulator", "")
        assert emulator.start() is emulator  # already running: no-op
    assert not emulator.running
    emulator.stop()  # idempotent


def test_two_emulators_cannot_share_a_port(emu):
    with pytest.raises(OSError, match="in use"):
        LumaEmulator(port=emu.port).start()


def test_importing_the_package_does_not_import_the_web_stack():
    code = (
        "import sys, airflow_provider_luma.testing; "
        "print(any(m.split('.')[0] in ('starlette', 'uvicorn', 'airflow') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_emulator_imports_nothing_from_airflow_or_the_rest_of_the_provider():
    code = (
        "import sys; from airflow_provider_luma.testing import LumaEmulator; LumaEmulator().start().stop(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow' or ("
        "m.startswith('airflow_provider_luma.') and not m.startswith('airflow_provider_luma.testing'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_config_validation():
    with pytest.raises(ValueError, match="kind"):
        FaultRule(kind="explode")
    with pytest.raises(ValueError, match="rate"):
        FaultRule(kind="500", rate=1.5)
    with pytest.raises(ValueError, match="dreaming_seconds"):
        EmulatorConfig(dreaming_seconds=(5, 1))
    with pytest.raises(ValueError, match="unknown"):
        EmulatorConfig().updated(nope=1)
    config = EmulatorConfig(faults=[{"route": "GET /ping", "kind": "429", "retry_after": 2}])
    assert config.faults == [FaultRule(route="GET /ping", kind="429", retry_after=2)]
    assert EmulatorConfig(**{**config.to_dict(), "dreaming_seconds": [1, 2]}).dreaming_range() == (1.0, 2.0)


@pytest.mark.parametrize(
    ("route", "method", "path", "template", "expected"),
    [
        ("*", "GET", "/ping", "/ping", True),
        ("POST /generations/image", "POST", "/generations/image", "/generations/image", True),
        ("POST /generations/image", "GET", "/generations/image", "/generations/image", False),
        ("GET /generations/*", "GET", "/generations/abc", "/generations/{id}", True),
        ("GET /generations/{id}", "GET", "/generations/abc", "/generations/{id}", True),
        ("GET /generations/{id}", "GET", "/generations", "/generations", False),
        ("/credits", "DELETE", "/credits", "/credits", True),
        ("* /assets/*", "GET", "/assets/x.png", "/assets/{name}", True),
    ],
)
def test_fault_route_patterns(route, method, path, template, expected):
    assert FaultRule(route=route, kind="500").matches(method, path, template) is expected
