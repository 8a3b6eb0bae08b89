"""
How a wait shares the triggerer's one event loop with every other trigger: it imports its HTTP
stack in a thread, and polls on a shared time grid.
"""

from __future__ import annotations

import asyncio
import importlib
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_luma.hooks.luma import LumaHook

#: Polls wake on this shared grid (seconds) so that the waits due within the same few milliseconds
#: are served in one pass of the event loop: fewer wake-ups and system calls per poll (about a
#: fifth less CPU per poll with 1,000 waits; see benchmarks/RESULTS.md). Small next to a poll
#: interval, and random first-poll phases keep each pass short.
POLL_GRID_SECONDS = 0.02

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

    The first import of the hook and its HTTP stack (aiohttp, requests, tenacity) takes a good part
    of a second; done on the triggerer's event loop it would stall every other trigger meanwhile.
    Only a finished import is remembered: a wait starting while another one's import is still
    running in its thread waits in a thread too, never on the module lock from the event loop.

    One stall remains, outside our reach: the import's allocations usually set off the process's
    first full garbage collection, which holds the GIL while it scans every object the triggerer
    inherited (~0.2 s for ~266k objects, measured on Airflow 3.3). Only ``gc.freeze()`` after the
    triggerer forks would avoid it, and that is the triggerer's decision, not a provider's.
    """
    global _hook_class
    if _hook_class is None:
        await asyncio.to_thread(_import_modules_off_the_loop)
        from airflow_provider_luma.hooks.luma import LumaHook

        _hook_class = LumaHook
    return _hook_class


async def sleep_until_tick(when: float) -> None:
    """
    Sleep until the grid tick at or just before ``when``, or the next tick if that one has passed.

    Rounding down keeps every gap between two polls within the poll interval.

    :param when: the event loop's time (``loop.time()``) the caller is due at.
    """
    loop = asyncio.get_running_loop()
    tick = math.floor(when / POLL_GRID_SECONDS)
    now = loop.time()
    if tick * POLL_GRID_SECONDS <= now:
        tick = math.floor(now / POLL_GRID_SECONDS) + 1
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not woken.done():  # cancelled meanwhile
            woken.set_result(None)

    # Every wait due at a tick gets the very same timer time: asyncio runs them in one pass.
    timer = loop.call_at(tick * POLL_GRID_SECONDS, wake)
    try:
        await woken
    finally:
        timer.cancel()
