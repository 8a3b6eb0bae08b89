"""
Importing a wait's HTTP stack off the triggerer's event loop, so that the first wait of a
triggerer does not stall every other trigger while it imports.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_luma.hooks.luma import LumaHook

_hook_class: type[LumaHook] | None = None


#: What a wait needs that its trigger module does not import: the hook, its HTTP stack, and the
#: async connection lookup (whose first import pulls in Airflow's connection module).
_MODULES_OFF_THE_LOOP = (
    "airflow_provider_luma.hooks.luma",
    "aiohttp",
    "airflow.providers.common.compat.connection",
)


def _import_modules_off_the_loop() -> None:
    for name in _MODULES_OFF_THE_LOOP:
        importlib.import_module(name)


async def import_hook_off_the_loop() -> type[LumaHook]:
    """
    The hook class, imported in a worker thread the first time.

    The first import of the hook and its HTTP stack (aiohttp, tenacity) is slow; done on the
    triggerer's event loop it would stall every other trigger meanwhile (make bench's "first waits'
    event-loop stall, hook imported in a thread" row: about 15 ms against 93 ms on the loop). Only
    a finished import is remembered: a wait that starts while another one's import still runs
    imports in a thread too, never waiting on the module lock from the event loop.

    One shorter stall remains, outside our reach: the import's allocations usually set off the
    process's first full garbage collection, which holds the GIL while it scans every object the
    triggerer inherited. Only ``gc.freeze()`` after the triggerer forks would avoid it, and that is
    the triggerer's decision, not a provider's.
    """
    global _hook_class
    if _hook_class is None:
        await asyncio.to_thread(_import_modules_off_the_loop)
        from airflow_provider_luma.hooks.luma import LumaHook

        _hook_class = LumaHook
    return _hook_class
