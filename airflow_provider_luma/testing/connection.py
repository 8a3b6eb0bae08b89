"""Pointing an Airflow connection at an emulator, through environment variables."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_luma.testing.server import LumaEmulator


def connection_env(emulator: LumaEmulator, conn_id: str = "luma_default") -> dict[str, str]:
    """
    Return the environment variable that defines Airflow connection ``conn_id`` for ``emulator``.

    Set it (e.g. with ``monkeypatch.setenv``) before the code under test looks the connection up.

    :param emulator: a started emulator.
    :param conn_id: the Airflow connection id.
    """
    value = json.dumps({"conn_type": "luma", "password": emulator.api_key, "host": emulator.base_url})
    return {f"AIRFLOW_CONN_{conn_id.upper()}": value}
