"""
pytest fixtures for testing DAGs and hooks against the Luma emulator.

Enable with ``pytest_plugins = ["airflow_provider_luma.testing.pytest_plugin"]`` in your
top-level ``conftest.py``:

* ``luma_emulator``: a fresh emulator per test (key ``test-key``, queued 0.1 s, dreaming 0.5 s);
* ``luma_emulator_session``: one emulator for the session; call ``reset()`` between tests yourself;
* ``luma_connection_env``: points Airflow's ``luma_default`` connection at ``luma_emulator``
  (through ``AIRFLOW_CONN_LUMA_DEFAULT``, set with monkeypatch) and returns the variables set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_luma.testing.config import EmulatorConfig
from airflow_provider_luma.testing.connection import connection_env
from airflow_provider_luma.testing.server import LumaEmulator

if TYPE_CHECKING:
    from collections.abc import Iterator

API_KEY = "test-key"


def _fast_config() -> EmulatorConfig:
    return EmulatorConfig(queued_seconds=0.1, dreaming_seconds=0.5)


@pytest.fixture
def luma_emulator() -> Iterator[LumaEmulator]:
    """A started emulator for one test, stopped afterwards."""
    with LumaEmulator(api_key=API_KEY, config=_fast_config()) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def luma_emulator_session() -> Iterator[LumaEmulator]:
    """One started emulator for the whole session (reset it between tests yourself)."""
    with LumaEmulator(api_key=API_KEY, config=_fast_config()) as emulator:
        yield emulator


@pytest.fixture
def luma_connection_env(luma_emulator: LumaEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the ``luma_default`` Airflow connection at ``luma_emulator``; return the variables set."""
    env = connection_env(luma_emulator)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
