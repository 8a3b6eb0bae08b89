"""
The Luma API emulator: a real HTTP server for tests, demos and benchmarks, serving the Dream
Machine API (``/dream-machine/v1``) and the Agents API (``/agents/v1``) on one port, one key.

.. code-block:: python

    from airflow_provider_luma.testing import EmulatorConfig, FaultRule, LumaEmulator

    with LumaEmulator(config=EmulatorConfig(queued_seconds=0.1, dreaming_seconds=0.5)) as emu:
        emu.base_url  # http://127.0.0.1:PORT/dream-machine/v1, key "test-key"
        emu.agents_base_url  # http://127.0.0.1:PORT/agents/v1, the same key
        emu.configure(faults=[FaultRule(route="POST /generations/image", kind="503", times=1)])
        emu.configure(agents_failures=[AgentsFailureRule(failure_code="image_too_large", times=1)])

It imports nothing from the rest of the provider (an independent counterpart of the hook) and
needs only starlette, uvicorn and pydantic (imported when a server starts) and Pillow (to draw
pictures): the ``testing`` extra. Also: ``python -m
airflow_provider_luma.testing`` (see :mod:`.cli`) and the pytest plugin :mod:`.pytest_plugin`.
"""

from __future__ import annotations

from airflow_provider_luma.testing.agents_fates import AgentsFailureRule
from airflow_provider_luma.testing.config import FAULT_KINDS, EmulatorConfig, FaultRule
from airflow_provider_luma.testing.connection import connection_env
from airflow_provider_luma.testing.server import LumaEmulator

__all__ = [
    "FAULT_KINDS",
    "AgentsFailureRule",
    "EmulatorConfig",
    "FaultRule",
    "LumaEmulator",
    "connection_env",
]
