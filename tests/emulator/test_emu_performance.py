"""A sanity bound on throughput: many concurrent pollers on one shared aiohttp session."""

from __future__ import annotations

import asyncio
import time

import aiohttp


async def test_many_concurrent_polls_are_answered_quickly(emu, api):
    # No queued phase: 50 creates can take less than the fixture's 0.1 s of it on a fast machine.
    emu.configure(queued_seconds=0, dreaming_seconds=3600)
    ids = [api.image(f"poll target {i}")["id"] for i in range(50)]
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    polls = 2000

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def poll(i: int) -> str:
            async with session.get(
                f"{emu.base_url}/generations/{ids[i % len(ids)]}", headers=headers
            ) as answer:
                return str((await answer.json())["state"])

        started = time.monotonic()
        states = await asyncio.gather(*(poll(i) for i in range(polls)))
        elapsed = time.monotonic() - started
    assert set(states) == {"dreaming"}
    assert emu.stats.requests["GET /generations/{id}"] == polls
    # Typically ~3,000 polls/s on a 2-core box (client and server in one process); keep it generous.
    assert elapsed < 10, f"{polls / elapsed:.0f} polls/s"
